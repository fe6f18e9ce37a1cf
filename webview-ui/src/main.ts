/**
 * The dashboard page (bundled to dist/dashboard.js). Renders what the extension posts (messages.ts); every
 * string from the data goes in through textContent, never as HTML (it comes from the workspace's audit log).
 * Controls are @vscode-elements/elements; the per-day chart is uPlot; colours are VS Code's theme variables.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import type { DashboardData, Message, ToExtension, ToWebview } from '../../src/extension/dashboard/messages';
import { formatAmount, formatDuration } from '../../src/core/format-quota';

interface VsCodeApi {
  postMessage(message: Message<ToExtension>): void;
  getState(): SavedState | undefined;
  setState(state: SavedState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** Kept across hide/show: the last data (shown at once, then refreshed) and the page of history viewed. */
interface SavedState {
  data?: DashboardData;
  cursor?: string;
}

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;
let state: SavedState = vscode.getState() ?? {};
let chart: uPlot | undefined;
let status = '';

function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function usd(x: number): string {
  return `$${x.toFixed(x !== 0 && Math.abs(x) < 0.01 ? 4 : 2)}`;
}

function amount(metric: string, n: number): string {
  return metric === 'usd' ? usd(n) : formatAmount(n);
}

function button(label: string, aria: string, onClick: () => void, secondary = true): HTMLElement {
  const b = el('vscode-button', { 'aria-label': aria, title: aria }, label);
  if (secondary) b.setAttribute('secondary', '');
  b.addEventListener('click', () => {
    status = '';
    onClick();
  });
  return b;
}

function level(fraction: number, alerts: number[]): string {
  const sorted = [...alerts].sort((a, b) => b - a);
  if (fraction >= (sorted[0] ?? 1)) return 'full';
  if (fraction >= (sorted[1] ?? 0.95)) return 'high';
  if (fraction >= (sorted[2] ?? 0.8)) return 'warn';
  return 'ok';
}

function summary(data: DashboardData): HTMLElement {
  const m = data.quota.month;
  const saved = Math.max(0, m.baseline_usd - m.usd);
  const t = data.report.totals;
  return el('section', { 'aria-labelledby': 'h-month' },
    el('h2', { id: 'h-month' }, `This month (${m.month})`),
    el('div', { class: 'figures' },
      el('div', { class: 'figure', 'data-figure': 'spent' }, el('span', { class: 'value' }, usd(m.usd)), el('span', { class: 'label' }, 'spent')),
      el('div', { class: 'figure saved', 'data-figure': 'saved' }, el('span', { class: 'value' }, usd(saved)), el('span', { class: 'label' }, `saved vs premium baseline (${usd(m.baseline_usd)})`)),
      el('div', { class: 'figure', 'data-figure': 'calls' }, el('span', { class: 'value' }, String(m.calls)), el('span', { class: 'label' }, 'calls, all workspaces')),
    ),
    el('p', { class: 'muted', 'data-figure': 'workspace' }, `This workspace, all time: ${t.calls} delegations, spent ${usd(t.spend_usd)}, saved ${usd(t.saved_usd)}.`),
  );
}

function quotas(data: DashboardData): HTMLElement {
  const now = Date.parse(data.at);
  const list = el('div', { class: 'providers' });
  for (const p of data.quota.providers) {
    const card = el('div', { class: 'provider', role: 'group', 'aria-label': `${p.id} quotas` },
      el('h3', {}, p.id, el('span', { class: 'muted' }, ` · ${p.tier}${p.key_needed && !p.has_key ? ' · no key' : ''}`)));
    if (!p.quotas.length) card.append(el('p', { class: 'muted' }, 'No quota configured.'));
    for (const q of p.quotas) {
      const used = Math.max(0, q.limit - q.left);
      const fraction = q.limit > 0 ? Math.min(1, used / q.limit) : 0;
      const label = `${q.metric} per ${q.window}`;
      const bar = el('div', {
        class: `bar ${level(fraction, data.alerts)}`, role: 'progressbar', 'aria-label': `${p.id} ${label}`,
        'aria-valuemin': '0', 'aria-valuemax': String(q.limit), 'aria-valuenow': String(used), 'aria-valuetext': `${amount(q.metric, used)} of ${amount(q.metric, q.limit)} used`,
      }, el('div', { class: 'fill' }));
      (bar.firstChild as HTMLElement).style.width = `${(fraction * 100).toFixed(1)}%`;
      for (const a of data.alerts.filter((x) => x < 1)) {
        const tick = el('div', { class: 'tick', title: `alert at ${Math.round(a * 100)}%` });
        tick.style.left = `${a * 100}%`;
        bar.append(tick);
      }
      card.append(el('div', { class: 'quota' },
        el('div', { class: 'quota-head' }, el('span', {}, label), el('span', { class: 'used' }, `${amount(q.metric, used)} / ${amount(q.metric, q.limit)}`)),
        bar,
        el('div', { class: 'muted small' }, `resets in ${formatDuration(Date.parse(q.resets_at) - now)}`)));
    }
    if (p.cooldown_until) card.append(el('p', { class: 'warning' }, `Cooling down ${formatDuration(Date.parse(p.cooldown_until) - now)}: ${p.cooldown_reason ?? 'rate limited'}`));
    if (p.circuit !== 'closed') card.append(el('p', { class: 'warning' }, `Circuit ${p.circuit}`));
    list.append(card);
  }
  return el('section', { 'aria-labelledby': 'h-quota' }, el('h2', { id: 'h-quota' }, 'Quotas'), list);
}

function chain(data: DashboardData): HTMLElement {
  const ol = el('ol', { class: 'chain' });
  for (const link of data.chain) {
    ol.append(el('li', { class: link.skipped ? 'skipped' : 'ready' },
      el('strong', {}, link.provider), ` (${link.tier}) — `, link.skipped ? `skipped now: ${link.skipped}` : 'ready'));
  }
  return el('section', { 'aria-labelledby': 'h-chain' }, el('h2', { id: 'h-chain' }, 'Routing chain'), ol);
}

function themeColor(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

function perDay(data: DashboardData): HTMLElement {
  const days = Object.entries(data.report.days);
  const total = days.reduce((s, [, d]) => s + d.saved_usd, 0);
  const holder = el('div', { class: 'chart', role: 'img', 'aria-label': `Spend and savings per day over ${days.length} day(s); saved ${usd(total)} in all.` });
  const section = el('section', { 'aria-labelledby': 'h-days' }, el('h2', { id: 'h-days' }, 'Spend and savings per day'), holder);
  if (!days.length) {
    holder.append(el('p', { class: 'muted' }, 'No delegations yet.'));
    return section;
  }
  const xs = days.map(([day]) => Date.parse(`${day}T00:00:00Z`) / 1000);
  // Colours read now, so a theme change (which re-renders) redraws in the new theme.
  const fg = themeColor('--vscode-descriptionForeground', '#888');
  const grid = 'rgba(128,128,128,0.22)';
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const dayS = 86_400;
  const opts: uPlot.Options = {
    width: Math.max(320, (app.clientWidth || 600) - 32),
    height: 220,
    // A day either side, so one or two days of history still read as days, not years.
    // A day either side, so one or two days of history still read as days, not years.
    scales: { x: { time: true, auto: false, range: [xs[0]! - dayS, xs[xs.length - 1]! + dayS] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
    axes: [
      { ...axis, space: 60 },
      { ...axis, size: 70, values: (_u, ticks) => { const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1; const digits = Math.min(6, Math.max(2, Math.ceil(-Math.log10(step || 1)))); return ticks.map((v) => `$${v.toFixed(digits)}`); } },
    ],
    series: [
      {},
      { label: 'spent', stroke: themeColor('--vscode-charts-orange', '#d18616'), width: 2, points: { show: true, size: 8 }, value: (_u, v) => (v == null ? '—' : usd(v)) },
      { label: 'saved', stroke: themeColor('--vscode-charts-green', '#388a34'), width: 2, points: { show: true, size: 8 }, value: (_u, v) => (v == null ? '—' : usd(v)) },
    ],
  };
  chart?.destroy();
  // Drawn after the section is in the page, so uPlot measures real sizes.
  queueMicrotask(() => {
    chart = new uPlot(opts, [xs, days.map(([, d]) => d.spend_usd), days.map(([, d]) => d.saved_usd)], holder);
  });
  return section;
}

function history(data: DashboardData): HTMLElement {
  const columns = ['Time', 'Task', 'Provider / model', 'Tokens', 'Cost', 'Baseline', 'Outcome', 'File', 'Actions'];
  const table = el('vscode-table', { zebra: '', 'bordered-rows': '', 'aria-label': 'Delegation history, newest first', columns: JSON.stringify(['12%', '6%', '17%', '9%', '7%', '9%', '9%', '15%', '16%']) });
  const header = el('vscode-table-header', { slot: 'header' });
  for (const c of columns) header.append(el('vscode-table-header-cell', {}, c));
  const body = el('vscode-table-body', { slot: 'body' });
  for (const h of data.report.history) {
    const actions = el('div', { class: 'actions' });
    if (h.path) actions.append(button('Open', `Open ${h.path}`, () => vscode.postMessage({ type: 'openFile', path: h.path! })));
    if (h.backup_id && h.path) actions.append(button('Restore', `Restore ${h.path} to before this delegation (backup ${h.backup_id})`, () => vscode.postMessage({ type: 'restore', backupId: h.backup_id!, path: h.path! })));
    const cells = [
      shortTime(h.time), h.task, `${h.provider ?? '—'} / ${h.model ?? '—'}`, `${h.input_tokens} + ${h.output_tokens}`,
      usd(h.cost_usd), usd(h.baseline_usd), outcomeCell(h.outcome, h.verified), h.path ?? '',
    ];
    const check = h.verified ? ` · check ${h.verified.replace('_', ' ')}${h.check ? `: ${h.check}` : ''}` : '';
    const row = el('vscode-table-row', { 'data-task': h.task, title: `${h.time} · ${h.task} · ${h.provider ?? '—'}/${h.model ?? '—'}${h.path ? ` · ${h.path}` : ''}${check}` });
    for (const c of cells) row.append(el('vscode-table-cell', {}, c));
    row.append(el('vscode-table-cell', {}, actions));
    body.append(row);
  }
  table.append(header, body);
  const nav = el('div', { class: 'actions' });
  if (state.cursor) nav.append(button('Newest', 'Show the newest delegations', () => page(undefined)));
  if (data.report.next_cursor) nav.append(button('Older', 'Show older delegations', () => page(data.report.next_cursor)));
  const content = data.report.history.length ? table : el('p', { class: 'muted' }, 'No delegations recorded in this workspace yet.');
  return el('section', { 'aria-labelledby': 'h-history' }, el('h2', { id: 'h-history' }, 'Delegations'), content, nav);
}

/** Short enough for its column: the check's summary is in the row's title. */
function outcomeCell(outcome: string, verified: string | undefined): string {
  if (outcome !== 'ok') return outcome;
  return verified === 'passed' ? 'verified' : verified === 'failed' ? 'check failed' : outcome;
}

/** Local time as MM-DD HH:MM (YYYY-MM-DD for other years): fits its column; the full ISO time is in the row's title. */
function shortTime(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (d.getFullYear() !== new Date().getFullYear()) return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function page(cursor: string | undefined): void {
  state = { ...state, cursor };
  vscode.setState(state);
  vscode.postMessage({ type: 'page', cursor });
}

function render(): void {
  const data = state.data;
  app.replaceChildren();
  const header = el('header', {},
    el('h1', {}, `Switchboard${data ? ` — ${data.folder}` : ''}`),
    button('Refresh', 'Refresh the dashboard', () => vscode.postMessage({ type: 'refresh' }), false));
  app.append(header, el('p', { id: 'status', role: 'status', 'aria-live': 'polite', class: status ? 'notice' : 'muted' }, status));
  if (!data) {
    app.append(el('p', {}, 'Loading…'));
    return;
  }
  app.append(summary(data), quotas(data), perDay(data), history(data), chain(data));
  app.setAttribute('aria-busy', 'false');
  app.dataset.at = data.at;
}

window.addEventListener('message', (event: MessageEvent<Message<ToWebview>>) => {
  const m = event.data;
  if (m.type === 'data') {
    state = { ...state, data: m.data };
    // A notice ("Restored …") outlives the refresh its own action triggers; the user's next action clears it.
    vscode.setState(state);
  } else {
    status = m.message;
  }
  render();
});

// VS Code switches the body's theme class on a theme change: redraw so the chart's canvas colours follow.
new MutationObserver(() => render()).observe(document.body, { attributes: true, attributeFilter: ['class'] });

window.addEventListener('resize', () => chart?.setSize({ width: Math.max(320, app.clientWidth - 32), height: 220 }));

render();
// Ask for fresh data; the saved page (if any) first, so a re-shown panel keeps where it was.
if (state.cursor) vscode.postMessage({ type: 'page', cursor: state.cursor });
else vscode.postMessage({ type: 'ready' });
