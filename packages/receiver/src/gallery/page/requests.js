// @ts-check
// The gallery page's requests (app.js): the JSON API of gallery-server.ts, the paths of what
// opening a day asks for, and the first of those sent as soon as the page is parsed. This
// module is small and loaded by index.html as an async module as well as imported by app.js
// (one module, evaluated once): it runs as soon as it arrives, not after the page is parsed,
// its style sheet in and the much larger app.js loaded, so the first screen's requests leave
// that much earlier. It reads only the address: the document may not be parsed yet.
// The server puts it in index.html too, inline, as a classic script (index-page.ts), so that
// they leave without the round trip for this file: that copy runs first and leaves them in
// `early` below for this module, which app.js imports.

/** Frames fetched per request; a day of 20,000 frames is 40 small requests, made as needed. */
export const PAGE = 500;

/** The Frames view's grid (app.js lays it out): cells at least this wide, and this high. */
export const MIN_CELL_W = 236;
export const CELL_H = 156;
/** The grid's left and right padding together (style.css). */
export const GRID_PADDING = 32;
/** The cells the grid makes: the rows in its height, and one more (app.js render). */
export const rowsFor = (/** @type {number} */ top, /** @type {number} */ height) => Math.ceil((top + height) / CELL_H) + 1;
export const colsFor = (/** @type {number} */ gridWidth) => Math.max(1, Math.floor((gridWidth - GRID_PADDING) / MIN_CELL_W));

/**
 * The grid's size guessed from the window's, before style.css or any layout: beside the side
 * bar (220 px), below the bar, timeline and above the keys (about 150 px together); on a
 * narrow screen (style.css, 700 px) the side bar is above it, at most a third of the height.
 * A guess too small fetches fewer thumbnails early (the grid asks for the rest), one too large
 * a row more than shown.
 */
function gridGuess() {
  const narrow = innerWidth <= 700;
  return { width: narrow ? innerWidth : innerWidth - 220, height: innerHeight - 150 - (narrow ? innerHeight * 0.32 : 0) };
}

/**
 * The JSON answer, as the server sends it: each caller says what it expects.
 * @param {string} path
 * @returns {Promise<any>}
 */
export async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message ?? `${res.status} ${res.statusText}`);
  return body;
}

// A null is left out (no camera yet: an address without one, not `camera=null`).
/** @param {Record<string, string | number | null>} params */
export const q = (params) => new URLSearchParams(Object.entries(params).flatMap(([k, v]) => (v === null ? [] : [[k, String(v)]]))).toString();

/** What opening a day asks for: its summary, a page of its frames, its events (of one camera or all). */
export const dayPath = (/** @type {string | null} */ camera, /** @type {string | null} */ day) => `/api/day?${q({ camera, day })}`;
export const pagePath = (/** @type {string | null} */ camera, /** @type {string | null} */ day, /** @type {number} */ p) =>
  `/api/frames?${q({ camera, day, offset: p * PAGE, limit: PAGE })}`;
/** A frame's thumbnail (gallery-server.ts serves /thumbs/NAME). */
export const thumbnailPath = (/** @type {string} */ name) => `/thumbs/${name}`;
export const eventsPath = (/** @type {string} */ day, /** @type {string | null} */ camera) => `/api/events?${q(camera ? { day, camera } : { day })}`;

/**
 * What the address asks for: camera, day, view (frames; the Events view otherwise), all
 * (events of all cameras), event (a notifier's link). In the query, where the server sees it
 * (see early); links made before that had all but `event` after the `#`, and still open.
 */
export function wantedAddress() {
  const wanted = new URLSearchParams(location.search);
  if (!wanted.has('camera')) for (const [k, v] of new URLSearchParams(location.hash.slice(1))) if (!wanted.has(k)) wanted.set(k, v);
  return wanted;
}

/**
 * The answers the first screen needs, by path, as promises: the cameras (and the server's
 * zone), and the day the address names (its summary, its first page, and its events in the
 * Events view), which needs nothing the page learns later. Opening a day takes the ones it
 * needs (firstAnswer); the first day opened ends this, so that no later request is answered
 * from them. A link to an event (?event=ID) has its day in the server's zone, not known yet.
 *
 * The server puts them in the page it serves for an address naming a camera and day (the
 * #answers element, gallery-server.ts): the thumbnails are asked for as the page is parsed,
 * a round trip earlier, as a static page's would be. What it did not put there (an address
 * from before, or one naming a camera it does not have) is asked for here, the cameras first.
 *
 * The page's inline copy runs first and leaves them on the window, where this module (app.js's)
 * takes them; without it (a page served without the copy) this module makes them itself.
 */
const shared = /** @type {{ galleryEarly?: Map<string, Promise<any>> }} */ (/** @type {unknown} */ (globalThis));
const early = (shared.galleryEarly ??= startEarly());

/** @returns {Map<string, Promise<any>>} */
function startEarly() {
  /** @type {{ camera?: string, day?: string, cameras?: object, summary?: object, frames?: { frames: { name: string }[] }, events?: object }} */
  const given = JSON.parse(document.getElementById('answers')?.textContent || '{}');
  const wanted = wantedAddress();
  const camera = wanted.get('camera');
  const day = wanted.get('day');
  const mine = given.camera === camera && given.day === day;
  /** @type {Map<string, Promise<any>>} */
  const early = new Map();
  const answer = (/** @type {string} */ path, /** @type {object | undefined} */ value) => {
    const promise = value ? Promise.resolve(value) : api(path);
    // One not taken (the address named a camera or day that is not there) is not an error to show.
    promise.catch(() => {});
    early.set(path, promise);
    return promise;
  };
  answer('/api/cameras', given.cameras);
  if (camera && day && !wanted.has('event')) {
    answer(dayPath(camera, day), mine ? given.summary : undefined);
    const frames = answer(pagePath(camera, day, 0), mine ? given.frames : undefined);
    if (wanted.get('view') === 'frames') {
      if (mine && given.frames) fetchFirstThumbnails(given.frames);
      else frames.then(fetchFirstThumbnails, () => {});
    } else answer(eventsPath(day, wanted.get('all') === '1' ? null : camera), mine ? given.events : undefined);
  }
  // A page's first Intl formatter loads ICU's data: 20-35 ms of the main thread in Chromium
  // here (its first number format 2-10 ms more), later ones well under 1 ms. Made in a task of
  // its own, they fill the wait for the thumbnails (asked for above) rather than holding up
  // the grid's first captions and count.
  setTimeout(() => {
    new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', hour: '2-digit' }).format(0);
    (0).toLocaleString();
  });
  return early;
}

/**
 * The thumbnails of the Frames view's first screen, asked for as soon as the day's first page
 * is in, not after app.js has arrived, the page is laid out (its fonts found: tens of ms) and
 * the grid is made: the grid's images, of the same addresses, get these requests, in flight
 * or done. Kept on the window for the page's life, so that none is let go before the grid has
 * them. How many is guessed from the window's size (gridGuess). The day opens at its first
 * frames unless "follow new frames" is ticked (a browser restoring the box's state): then
 * these are only not needed.
 * @param {{ frames: { name: string }[] }} page
 */
function fetchFirstThumbnails(page) {
  const { width, height } = gridGuess();
  const shared = /** @type {{ galleryThumbnails?: HTMLImageElement[] }} */ (/** @type {unknown} */ (globalThis));
  shared.galleryThumbnails = page.frames.slice(0, colsFor(width) * rowsFor(0, height)).map(({ name }) => {
    const img = new Image();
    // An image not in the document is asked for at low priority, which Chromium holds back to
    // one at a time while the page is still loading (app.js, layout): these are the screen.
    img.fetchPriority = 'high';
    img.src = thumbnailPath(name);
    return img;
  });
}

/**
 * The early answer for `path` if it was asked for (see early), else a new request.
 * @param {string} path
 */
export function firstAnswer(path) {
  const answer = early.get(path);
  early.delete(path);
  return answer ?? api(path);
}

/** The first day opened (selectDay) has taken what it needs; nothing later is answered early. */
export function endEarly() {
  early.clear();
}
