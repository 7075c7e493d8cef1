/**
 * Time zones by Intl, with the zone named explicitly: an oracle for code that uses the process
 * time zone (TZ), which knows nothing of that code.
 */

const HOUR = 3_600_000;

/** One Intl formatter per zone and kind: making one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string, kind: 'offset' | 'wall'): Intl.DateTimeFormat {
  const key = `${zone} ${kind}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(
      'en-CA',
      kind === 'offset'
        ? { timeZone: zone, timeZoneName: 'longOffset' }
        : { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
    );
    formatters.set(key, f);
  }
  return f;
}

/** The zone's offset from UTC at `t`, in ms, by Intl (whole minutes: not for local mean time). */
export function offsetAt(zone: string, t: number): number {
  const name = formatter(zone, 'offset').formatToParts(t).find((p) => p.type === 'timeZoneName')!.value;
  const m = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(name);
  if (!m) throw new Error(`offset ${name} of ${zone} at ${new Date(t).toISOString()} is not in whole minutes`);
  return m[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * HOUR + Number(m[3]) * 60_000) : 0;
}

/** Local date and wall clock of `t` in `zone`, by Intl: `2026-03-29 03:00:00.000`. */
export function wall(zone: string, t: number): string {
  const p = Object.fromEntries(formatter(zone, 'wall').formatToParts(t).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${String(((t % 1000) + 1000) % 1000).padStart(3, '0')}`;
}
