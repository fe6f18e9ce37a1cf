/** The extension-host suite prints measured figures on lines starting with this; the runner collects them. */
export const TIMING_PREFIX = 'SWITCHBOARD_TIMING ';
