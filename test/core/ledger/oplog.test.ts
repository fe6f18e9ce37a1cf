import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scanLogTail } from '../../../src/core/ledger/sqljs-files';
import zlib from 'node:zlib';
import {
  LOG_HEADER_BYTES, MAX_RECORD_BYTES, RECORD_HEADER_BYTES, crc32, crc32ByTable, encodeLogHeader, encodeRecord, newLogId, parseLogHeader, scanRecords,
  type LoggedStatement,
} from '../../../src/core/ledger/oplog';

const A: LoggedStatement[] = [['INSERT INTO t VALUES (?, ?)', ['a', 1]], ['DELETE FROM t WHERE x < ?', [1_795_266_143_525]]];
const B: LoggedStatement[] = [['UPDATE t SET y = ?', [0.1 + 0.2]]];
const C: LoggedStatement[] = [['INSERT INTO t VALUES (?, ?)', ['c', null]]];

/** Three records laid out as in a file, starting at offset 100. */
function three(): { bytes: Buffer; ends: number[] } {
  const recs = [A, B, C].map(encodeRecord);
  const ends: number[] = [];
  let at = 100;
  for (const r of recs) ends.push((at += r.length));
  return { bytes: Buffer.concat(recs), ends };
}

describe('ledger operation log format', () => {
  it('round-trips records with exact numbers, nulls, and Infinity/NaN (which JSON cannot hold)', () => {
    const odd: LoggedStatement[] = [['X', [Infinity, -Infinity, NaN, -1.5e-300, 2 ** 53 - 1, 'é ✓ "q"']]];
    const { bytes, ends } = three();
    const all = Buffer.concat([bytes, encodeRecord(odd)]);
    const { records, stop } = scanRecords(all, 100);
    assert.deepEqual(stop, { kind: 'end' });
    assert.deepEqual(records.map((r) => r.statements), [A, B, C, odd]);
    assert.deepEqual(records.map((r) => r.offset), [100, ends[0], ends[1], ends[2]]);
    assert.equal(records[3]!.end, 100 + all.length);
  });

  it('writes each payload as the JSON of its statement list, byte for byte, whatever the statements hold', () => {
    const quoted: LoggedStatement[] = [['INSERT INTO t VALUES (\'a "b"\', ?)', ['\n\u2028 ✓']], ['SELECT 1', []], ...A];
    for (const statements of [A, B, C, quoted, quoted]) {
      const record = encodeRecord(statements);
      assert.equal(record.subarray(RECORD_HEADER_BYTES).toString('utf8'), JSON.stringify(statements));
      assert.equal(record.readUInt32BE(0), record.length - RECORD_HEADER_BYTES);
    }
    assert.equal(encodeRecord([['X', [Infinity]]]).subarray(RECORD_HEADER_BYTES).toString('utf8'), '[["X",[{"$n":"Infinity"}]]]');
  });

  it('uses the standard CRC-32 (the table fallback agrees with zlib)', () => {
    for (const f of [crc32, crc32ByTable]) assert.equal(f(Buffer.from('123456789')), 0xcbf43926);
    const sample = Buffer.from(JSON.stringify(A));
    assert.equal(crc32ByTable(sample), zlib.crc32(sample) >>> 0);
  });

  it('names a log in a fixed-size header and rejects anything else', () => {
    const id = newLogId();
    const header = encodeLogHeader(id);
    assert.equal(header.length, LOG_HEADER_BYTES);
    assert.equal(parseLogHeader(header), id);
    assert.equal(parseLogHeader(header.subarray(0, LOG_HEADER_BYTES - 1)), undefined);
    assert.equal(parseLogHeader(Buffer.from('x'.repeat(LOG_HEADER_BYTES))), undefined);
    assert.throws(() => encodeLogHeader('../etc'), /bad ledger log id/);
  });

  it('treats an incomplete last record as a torn tail, wherever the cut falls', () => {
    const { bytes, ends } = three();
    const lastStart = ends[1]! - 100;
    for (const cut of [lastStart + 4, lastStart + RECORD_HEADER_BYTES - 1, lastStart + RECORD_HEADER_BYTES, bytes.length - 1]) {
      const { records, stop } = scanRecords(bytes.subarray(0, cut), 100);
      assert.equal(records.length, 2, `cut at ${cut}`);
      assert.equal(stop.kind, 'torn', `cut at ${cut}`);
      assert.equal((stop as { at: number }).at, ends[1]);
    }
    // A cut inside the length's leading zero bytes leaves only zeros: nothing was written (the writer overwrites them).
    assert.deepEqual(scanRecords(bytes.subarray(0, lastStart + 1), 100).stop, { kind: 'free', at: ends[1] });
  });

  it('treats a complete last record with a bad checksum as torn, and zeros from a record boundary to the end as free space', () => {
    const { bytes, ends } = three();
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 2] ^= 0xff;
    assert.deepEqual(scanRecords(flipped, 100).stop, { kind: 'torn', at: ends[1], reason: 'checksum mismatch' });
    // A preallocated log's room for more records, or a crash after the file grew before its data reached the disk.
    for (const zeros of [1, 11, 12, 300, 20_000]) {
      const zeroed = Buffer.concat([bytes.subarray(0, ends[1]! - 100), Buffer.alloc(zeros)]);
      const z = scanRecords(zeroed, 100);
      assert.equal(z.records.length, 2);
      assert.deepEqual(z.stop, { kind: 'free', at: ends[1] }, `${zeros} zeros`);
    }
    // A writer killed while writing into free space: part of a record, then zeros. Torn, wherever the cut falls.
    const lastStart = ends[1]! - 100;
    for (const cut of [lastStart + 4, lastStart + 7, lastStart + RECORD_HEADER_BYTES + 3, bytes.length - 1]) {
      const killed = Buffer.concat([bytes.subarray(0, cut), Buffer.alloc(bytes.length - cut + 4096)]);
      const k = scanRecords(killed, 100);
      assert.equal(k.records.length, 2, `cut at ${cut}`);
      assert.equal(k.stop.kind, 'torn', `cut at ${cut}`);
      assert.equal((k.stop as { at: number }).at, ends[1]);
    }
    // Zeros with anything after them are not free space: a record header that never reached the disk.
    const gapThenRecord = Buffer.concat([bytes.subarray(0, ends[1]! - 100), Buffer.alloc(5000), bytes.subarray(0, 50)]);
    assert.equal(scanRecords(gapThenRecord, 100).stop.kind, 'damaged');
  });

  it('reports a bad record with data after it as damage, keeping the records before it', () => {
    const { bytes, ends } = three();
    const midCrc = Buffer.from(bytes);
    midCrc[ends[0]! - 100 + RECORD_HEADER_BYTES + 3] ^= 0x01; // inside record B's payload
    const a = scanRecords(midCrc, 100);
    assert.deepEqual(a.records.map((r) => r.statements), [A]);
    assert.deepEqual(a.stop, { kind: 'damaged', at: ends[0], reason: 'checksum mismatch' });
    const midLen = Buffer.from(bytes);
    midLen.writeUInt32BE(5, ends[0]! - 100); // the length no longer matches its complement
    assert.deepEqual(scanRecords(midLen, 100).stop, { kind: 'damaged', at: ends[0], reason: 'bad record length' });
    const huge = Buffer.from(bytes);
    huge.writeUInt32BE(MAX_RECORD_BYTES + 1, ends[0]! - 100);
    huge.writeUInt32BE(~(MAX_RECORD_BYTES + 1) >>> 0, ends[0]! - 100 + 4);
    assert.equal(scanRecords(huge, 100).stop.kind, 'damaged', 'an impossible length is damage, not a long record still being written');
  });

  it('reports a record whose checksum holds but whose content is not a statement list as damage', () => {
    const payload = Buffer.from('{"not":"a list"}');
    const rec = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
    rec.writeUInt32BE(payload.length, 0);
    rec.writeUInt32BE(~payload.length >>> 0, 4);
    rec.writeUInt32BE(crc32(payload), 8);
    payload.copy(rec, RECORD_HEADER_BYTES);
    const { records, stop } = scanRecords(Buffer.concat([encodeRecord(A), rec]), 0);
    assert.equal(records.length, 1);
    assert.equal(stop.kind, 'damaged');
    assert.match((stop as { reason: string }).reason, /not a statement list/);
  });

  it('reads a log file a chunk at a time exactly as in one piece, wherever the chunks cut (scanLogTail)', () => {
    const { bytes, ends } = three();
    const lastStart = ends[1]! - 100;
    const files: Array<[string, Buffer]> = [
      ['records, then free space', Buffer.concat([bytes, Buffer.alloc(300)])],
      ['records to the end', bytes],
      ['a torn record in free space', Buffer.concat([bytes.subarray(0, lastStart + 20), Buffer.alloc(400)])],
      ['a damaged record with records after it', Buffer.concat([bytes.subarray(0, lastStart), Buffer.from([9, 9, 9, 9]), bytes.subarray(lastStart + 4), Buffer.alloc(50)])],
    ];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-scan-'));
    try {
      for (const [what, content] of files) {
        const file = path.join(dir, 'log');
        fs.writeFileSync(file, content);
        const fd = fs.openSync(file, 'r');
        try {
          const whole = scanRecords(content, 0);
          for (let chunk = 1; chunk <= content.length + 1; chunk++) {
            assert.deepEqual(scanLogTail(fd, 0, content.length, chunk), whole, `${what}, chunks of ${chunk}`);
          }
        } finally {
          fs.closeSync(fd);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
