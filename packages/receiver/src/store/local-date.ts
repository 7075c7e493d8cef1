/** Days as a person means them: LOCAL dates of the process time zone (TZ); names stay in UTC. */

const p2 = (n: number) => String(n).padStart(2, '0');

/** A local calendar date, yyyy-MM-dd. */
export function localDate(time: Date): string {
  return `${time.getFullYear()}-${p2(time.getMonth() + 1)}-${p2(time.getDate())}`;
}
