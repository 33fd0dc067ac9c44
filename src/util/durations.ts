// Durations as people read them, in the two styles the CLI and the reports print. Rounded to whole
// seconds; the two largest units, the smaller one zero-padded so columns and lines stay aligned.

function parts(ms: number): { s: number; m: number; h: number } {
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return { s, m, h: Math.floor(m / 60) };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** For tables and progress lines: `42s`, `3m05s`, `2h05m`, `3d04h` (days from 48 hours). */
export function compactDuration(ms: number): string {
  const { s, m, h } = parts(ms);
  if (s < 60) return `${s}s`;
  if (m < 60) return `${m}m${pad(s % 60)}s`;
  if (h < 48) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

/** For text reports and plans: `42s`, `3m 05s`, `2h 05m` (hours never roll into days). */
export function spacedDuration(ms: number): string {
  const { s, m, h } = parts(ms);
  if (s < 60) return `${s}s`;
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  return `${h}h ${pad(m % 60)}m`;
}
