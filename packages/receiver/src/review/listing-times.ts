import { isoTimeAt } from '../store/iso-time.ts';
import { HOUR_MS, MINUTE_MS } from '../store/store.ts';
import { formatLocal, isoLocal, localDate, localOffset } from './time-range.ts';

const MINUTES_A_DAY = 1_440;
/** `00`..`59` (seconds, minutes, hours) and `000`..`999` (milliseconds), made once. */
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * The times a listing prints for each of tens of thousands of frames in time order, as
 * Date#toISOString, formatLocal and isoLocal (time-range.ts) give them, byte for byte, at a
 * fraction of the cost: listing a day of 20,000 frames spent most of its time in those (V8's
 * toISOString alone formats through snprintf). Each minute is formatted once; a frame adds its
 * own seconds and milliseconds.
 *
 * That holds in a minute whose UTC offset is the same at its first and its last millisecond
 * and whose local clock is on a whole minute (it has been in every zone since local mean
 * time, whose offsets had seconds). Any other minute (one in which the clocks change, or one
 * of local mean time) is formatted per instant by formatLocal. Offsets change at most once a
 * minute in every zone there is, so the two ends of a minute tell. One instance serves one
 * listing: it keeps what it learnt of the process time zone (TZ) as it was.
 */
export class ListingTimes {
  private minute = Number.NaN;
  /** The minute as toISOString gives it up to the seconds, `2026-03-29T01:00:`. */
  private utcHead = '';
  /** The same of the local time, `2026-03-29 03:00:`; '' when the minute is not linear (see above). */
  private localHead = '';
  /** `2026-03-29T03:00:`, or ''. */
  private isoLocalHead = '';
  private offset = '';
  /** getTimezoneOffset of the current minute, and the local day (in minutes since the epoch's) and date it was last seen in. */
  private offsetMinutes = Number.NaN;
  private localDay = Number.NaN;
  private localDate = '';

  /** `2026-03-29T01:00:00.000Z`: Date#toISOString. */
  iso(t: number): string {
    return isoTimeAt(t);
  }

  /** `2026-03-29 03:00:00.000+02:00`: formatLocal. */
  local(t: number): string {
    const inMinute = this.enter(t);
    if (this.localHead === '') return formatLocal(new Date(t));
    return this.localHead + TWO_DIGITS[Math.floor(inMinute / 1000)] + '.' + THREE_DIGITS[inMinute % 1000] + this.offset;
  }

  /** `2026-03-29T03:00:00.000+02:00`: isoLocal. */
  isoLocal(t: number): string {
    const inMinute = this.enter(t);
    if (this.isoLocalHead === '') return isoLocal(new Date(t));
    return this.isoLocalHead + TWO_DIGITS[Math.floor(inMinute / 1000)] + '.' + THREE_DIGITS[inMinute % 1000] + this.offset;
  }

  /**
   * The UTC hour (`span` HOUR_MS) or minute (MINUTE_MS) that starts at `start` as the methods
   * above print it, up to its minutes (an hour: `2026-03-29 03:`) or seconds (a minute:
   * `2026-03-29 03:00:`), and the offset after them: a line per hour or minute for
   * FrameIndex.lines. Undefined for a minute whose instants need formatting one by one (see
   * above), and for an hour in which the local minute is not the UTC one all through: one with
   * such a minute, one whose offset is not whole hours (+05:30), or one in which it changes (its
   * ends tell: in the tz database, `zdump -v` of every zone Node knows from 1800 to 2100, no two
   * changes are closer than 3.9 days).
   */
  heads(start: number, span: number): { utc: string; local: string; isoLocal: string; offset: string } | undefined {
    this.enter(start);
    if (this.localHead === '') return undefined;
    if (span === MINUTE_MS) return { utc: this.utcHead, local: this.localHead, isoLocal: this.isoLocalHead, offset: this.offset };
    const first = new Date(start);
    const last = new Date(start + HOUR_MS - 1);
    if (first.getMinutes() !== 0 || last.getMinutes() !== 59 || last.getSeconds() !== 59 || last.getTimezoneOffset() !== this.offsetMinutes) return undefined;
    // The minute's heads less their `00:`.
    const hour = (head: string) => head.slice(0, -'00:'.length);
    return { utc: hour(this.utcHead), local: hour(this.localHead), isoLocal: hour(this.isoLocalHead), offset: this.offset };
  }

  /** Makes `t`'s minute the current one; returns the milliseconds of `t` into it. */
  private enter(t: number): number {
    const minute = Math.floor(t / MINUTE_MS);
    if (minute !== this.minute) {
      this.minute = minute;
      const first = new Date(minute * MINUTE_MS);
      const last = new Date(minute * MINUTE_MS + MINUTE_MS - 1);
      this.utcHead = isoTimeAt(minute * MINUTE_MS).slice(0, -'00.000Z'.length);
      const offset = first.getTimezoneOffset();
      const linear =
        first.getSeconds() === 0 && first.getMilliseconds() === 0 && last.getSeconds() === 59 && last.getMilliseconds() === 999 &&
        offset === last.getTimezoneOffset();
      if (!linear) {
        this.localHead = this.isoLocalHead = '';
        this.offsetMinutes = Number.NaN;
      } else {
        // A linear minute's local clock is its UTC one less the offset: the local date and the
        // offset's text are made only when they change (localMinute per minute was most of this).
        if (offset !== this.offsetMinutes) {
          this.offsetMinutes = offset;
          this.offset = localOffset(first);
        }
        const local = minute - offset;
        const localDay = Math.floor(local / MINUTES_A_DAY);
        if (localDay !== this.localDay) {
          this.localDay = localDay;
          this.localDate = localDate(first);
        }
        const inLocalDay = local - localDay * MINUTES_A_DAY;
        const clock = `${TWO_DIGITS[Math.floor(inLocalDay / 60)]}:${TWO_DIGITS[inLocalDay % 60]}:`;
        this.localHead = `${this.localDate} ${clock}`;
        this.isoLocalHead = `${this.localDate}T${clock}`;
      }
    }
    return t - minute * MINUTE_MS;
  }
}
