// @ts-check
// The gallery page: a plain ES module, no build step. It talks to the JSON API of
// gallery-server.ts and shows times in the server's time zone (the days it lists are local
// dates there), with the zone named on the page: a browser elsewhere must not shift them.
// Type-checked as JavaScript with JSDoc types (tsconfig.json here, run by `pnpm typecheck`).

import { api, CELL_H, colsFor, dayPath, endEarly, eventsPath, firstAnswer, GRID_PADDING, MIN_CELL_W, PAGE, pagePath, q, rowsFor, thumbnailPath, wantedAddress } from './requests.js';

/**
 * What the API answers (gallery-server.ts); times are ISO 8601 UTC.
 * @typedef {{ name: string, time: string, id: string }} Frame  a frame of /api/frames
 * @typedef {Frame & { camera: string, day: string }} NewFrame  a frame of the `frames` event
 * @typedef {{ camera: string, day: string, from: string, to: string, total: number, bucketMs: number, buckets: number[] }} DaySummary  /api/day
 * @typedef {{ camera: string, day: string, total: number, offset: number, frames: Frame[] }} FramePage  /api/frames
 * @typedef {{ id: string, camera: string, start: string, last: string, end: string | null, open: boolean, frames: number, cover: string }} FrameEvent  of /api/events
 * @typedef {{ camera: string | null, day: string, from: string, to: string, gapMs: number, events: FrameEvent[] }} DayEvents  /api/events
 * @typedef {{ event: FrameEvent, frames: Frame[] }} EventClip  /api/event: what playing an event steps through
 * @typedef {FrameEvent & { change: 'start' | 'grow' | 'end', day: string }} EventChange  the feed's `event`
 */

/**
 * Elements of index.html that are not plain HTMLElements, by id.
 * @typedef {{ follow: HTMLInputElement, allcams: HTMLInputElement, fps: HTMLSelectElement, bars: HTMLCanvasElement, full: HTMLImageElement, vname: HTMLAnchorElement }} Typed
 */

/**
 * The element of index.html with that id.
 * @template {string} K
 * @param {K} id
 * @returns {K extends keyof Typed ? Typed[K] : HTMLElement}
 */
const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no element #${id}`);
  return /** @type {any} */ (el);
};
// Grid cells (MIN_CELL_W, CELL_H: requests.js, which guesses the first screen's before any
// layout): thumbnail (224x126 box, 16:9) plus caption; fixed so rows need no measuring.

/**
 * @type {{
 *   timeZone: string, cameras: string[], days: string[], camera: string | null, day: string | null,
 *   summary: DaySummary | null, pages: Map<number, Frame[] | Promise<Frame[]>>, generation: number,
 *   selected: number, viewer: boolean, playing: boolean, range: { start: number | null, end: number | null },
 *   fresh: Set<string>, cols: number, cellW: number,
 *   view: 'events' | 'frames', dayEvents: DayEvents | null, events: FrameEvent[], eventId: string | null,
 *   clip: EventClip | null, clipAt: number, zoom: 'day' | 'hour' | 'event', anchor: number | null,
 * }}
 */
const state = {
  timeZone: 'UTC',
  cameras: [],
  days: [],
  camera: null,
  day: null,
  /** {total, from, to, bucketMs, buckets} of the open day. */
  summary: null,
  /** page number -> frames, or the promise of them. */
  pages: new Map(),
  /** Bumped on every day switch so that late answers for the old day are dropped. */
  generation: 0,
  selected: 0,
  viewer: false,
  playing: false,
  range: { start: null, end: null },
  /** Names that arrived while the page was open, highlighted for a while. */
  fresh: new Set(),
  cols: 1,
  /** Cells share the grid's width: at least MIN_CELL_W each. */
  cellW: MIN_CELL_W,
  /** The Events view is the default; the Frames view has every frame of the day. */
  view: 'events',
  /** The open day's events (/api/events), and the same newest first, as the cards show them. */
  dayEvents: null,
  events: [],
  /** The event selected (its card, its mark on the timeline). */
  eventId: null,
  /** The event being played in the viewer, and which of its frames is shown. */
  clip: null,
  clipAt: 0,
  /** What the timeline spans: the day, the hour around `anchor`, or the selected event. */
  zoom: 'day',
  anchor: null,
};

// ---------------------------------------------------------------- times

/**
 * @typedef {{ full: Intl.DateTimeFormat, clock: Intl.DateTimeFormat, hour: Intl.DateTimeFormat, day: Intl.DateTimeFormat }} Formatters
 * @type {Formatters | undefined}
 */
let formatters;
/** The server's zone is known (setZone has run): until then there is nothing to label. */
let zoneKnown = false;

/** @param {string} timeZone */
function setZone(timeZone) {
  state.timeZone = timeZone;
  zoneKnown = true;
  formatters = undefined;
  $('zone').textContent = `Times in ${timeZone} (the server's time zone)`;
}

/**
 * The formatters for the server's zone, made on first use, not by setZone: a page's first
 * Intl.DateTimeFormat loads ICU's data, 20-35 ms in Chromium here, which the first screen
 * spends better while its requests are on their way than before it sends them.
 * @returns {Formatters}
 */
function fmt() {
  if (formatters) return formatters;
  /** @type {Intl.DateTimeFormatOptions} */
  const base = { timeZone: state.timeZone, hourCycle: 'h23' };
  formatters = {
    full: new Intl.DateTimeFormat(undefined, {
      ...base, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, timeZoneName: 'short',
    }),
    clock: new Intl.DateTimeFormat(undefined, { ...base, hour: '2-digit', minute: '2-digit', second: '2-digit' }),
    hour: new Intl.DateTimeFormat(undefined, { ...base, hour: '2-digit', minute: '2-digit' }),
    // Days are calendar dates, not instants: format them at noon UTC to keep the date itself.
    day: new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }),
  };
  return formatters;
}

/** @param {string} day yyyy-MM-dd */
const dayLabel = (day) => fmt().day.format(new Date(`${day}T12:00:00Z`));

/**
 * @param {string} text
 * @param {'' | 'good' | 'bad'} kind
 */
function say(text, kind = '') {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

// ---------------------------------------------------------------- cameras and days

function renderCameras() {
  const ul = $('cameras');
  ul.replaceChildren(
    ...state.cameras.map((camera) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.textContent = camera;
      b.dataset.camera = camera;
      b.className = camera === state.camera ? 'current' : '';
      b.onclick = () => selectCamera(camera);
      li.append(b);
      return li;
    }),
  );
}

function renderDays() {
  const ul = $('days');
  ul.replaceChildren(
    ...[...state.days].reverse().map((day) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.textContent = dayLabel(day);
      b.dataset.day = day;
      b.className = day === state.day ? 'current' : '';
      b.onclick = () => selectDay(day);
      li.append(b);
      return li;
    }),
  );
}

/**
 * Days that frames arriving live gave a camera while a list of its days was on its way: the
 * server may have answered before those frames, so the list is taken with them.
 * @type {Set<{ camera: string, days: Set<string> }>}
 */
const daysArriving = new Set();

/** @param {string} camera */
async function fetchDays(camera) {
  const arriving = { camera, days: new Set() };
  daysArriving.add(arriving);
  try {
    /** @type {{ days: string[] }} */
    const { days } = await api(`/api/days?${q({ camera })}`);
    return [...new Set([...days, ...arriving.days])].sort();
  } finally {
    daysArriving.delete(arriving);
  }
}

/**
 * @param {string} camera
 * @param {string | null} [wantedDay] a day to open instead of the newest (from the address)
 */
async function selectCamera(camera, wantedDay) {
  state.camera = camera;
  // The old camera's days must not stay clickable while this one's are on their way.
  state.days = [];
  renderCameras();
  renderDays();
  // A day named in the address is fetched alongside the list of days, not after it.
  const early = wantedDay ? selectDay(wantedDay).catch(() => {}) : undefined;
  const days = await fetchDays(camera);
  if (state.camera !== camera) return;
  state.days = days;
  renderDays();
  if (early && wantedDay && days.includes(wantedDay)) return early;
  const day = days.at(-1);
  if (day) await selectDay(day);
  else showDay(null);
}

/** @param {string} day */
async function selectDay(day) {
  state.day = day;
  renderDays();
  writeAddress();
  const generation = ++state.generation;
  state.pages.clear();
  state.dayEvents = null;
  state.events = [];
  // The Frames view does not show events: they are asked for when the Events view opens, so
  // that the first screen of thumbnails does not wait behind the day's events.
  if (state.view === 'events') loadEvents(firstAnswer).catch((e) => say(`cannot load events: ${e.message}`, 'bad'));
  // Most days open at their first frames: ask for them alongside the day's summary, and show
  // the day when both are here, so that its first cells ask for their thumbnails at once.
  const first = $('follow').checked ? undefined : loadPage(0, firstAnswer);
  /** @type {Promise<DaySummary>} */
  const asked = firstAnswer(dayPath(state.camera, day));
  endEarly();
  const [summary] = await Promise.all([asked, first]);
  if (generation !== state.generation) return;
  showDay(summary);
}

/** @param {DaySummary | null} summary */
function showDay(summary) {
  stopPlay();
  state.summary = summary;
  state.range = { start: null, end: null };
  clearCells();
  const total = summary?.total ?? 0;
  state.selected = $('follow').checked ? Math.max(0, total - 1) : 0;
  $('empty').hidden = total > 0;
  layout();
  $('grid').scrollTop = 0;
  if (total > 0) scrollToSelected();
  // The cells now, not at the next frame, and the title and count after their thumbnails'
  // requests have left (see uncaptioned): those are what the first screen waits for.
  render();
  queueMicrotask(() => {
    renderTitle();
    updateCount();
  });
  if (state.viewer && !state.clip) total > 0 ? showFrame(state.selected) : closeViewer();
}

function updateCount() {
  const total = state.summary?.total ?? 0;
  $('count').textContent = state.summary ? `${total.toLocaleString()} frame${total === 1 ? '' : 's'}` : '';
}

// ---------------------------------------------------------------- frames, by page

/**
 * @param {number} p
 * @param {(path: string) => Promise<any>} [ask] how (firstAnswer when a day opens)
 * @returns {Promise<Frame[]>}
 */
function loadPage(p, ask = api) {
  const have = state.pages.get(p);
  if (have) return Promise.resolve(have);
  const generation = state.generation;
  const promise = ask(pagePath(state.camera, state.day, p)).then(
    (/** @type {FramePage} */ res) => {
      if (generation !== state.generation) return [];
      state.pages.set(p, res.frames);
      scheduleRender();
      return res.frames;
    },
    (e) => {
      state.pages.delete(p);
      say(`cannot load frames: ${e.message}`, 'bad');
      return [];
    },
  );
  state.pages.set(p, promise);
  return promise;
}

/**
 * The frame at index i if its page is here; otherwise asks for the page and says undefined.
 * @param {number} i
 * @returns {Frame | undefined}
 */
function frameNow(i) {
  if (!(i >= 0 && i < (state.summary?.total ?? 0))) return undefined;
  const page = state.pages.get(Math.floor(i / PAGE));
  if (Array.isArray(page)) return page[i % PAGE];
  if (!page) loadPage(Math.floor(i / PAGE));
  return undefined;
}

/**
 * @param {number} i
 * @returns {Promise<Frame | undefined>}
 */
async function frameAt(i) {
  if (state.clip) return state.clip.frames[i];
  const page = await loadPage(Math.floor(i / PAGE));
  return page[i % PAGE];
}

// ---------------------------------------------------------------- the grid (virtual)

const grid = $('grid');
const spacer = $('spacer');
/**
 * index -> cell element; only the rows on screen (and one either side) exist.
 * @type {Map<number, HTMLDivElement>}
 */
const cells = new Map();
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
    drawTimeline();
  });
}

function clearCells() {
  for (const el of cells.values()) el.remove();
  cells.clear();
}

function layout() {
  const total = state.summary?.total ?? 0;
  state.cols = colsFor(grid.clientWidth);
  state.cellW = Math.max(MIN_CELL_W, Math.floor((grid.clientWidth - GRID_PADDING) / state.cols));
  spacer.style.height = `${Math.ceil(total / state.cols) * CELL_H}px`;
  clearCells();
  scheduleRender();
}

/** @param {number} i */
function makeCell(i) {
  // Not a button: keyboard focus stays on the grid, which handles the keys for all cells.
  const el = document.createElement('div');
  el.className = 'cell';
  el.style.width = `${state.cellW - 8}px`;
  el.style.transform = `translate(${(i % state.cols) * state.cellW}px, ${Math.floor(i / state.cols) * CELL_H}px)`;
  const img = document.createElement('img');
  img.width = 224;
  img.height = 126;
  img.decoding = 'async';
  img.alt = '';
  const caption = document.createElement('span');
  el.append(img, caption);
  el.onclick = () => {
    go(i);
    openViewer();
  };
  return el;
}

/** The thumbnail and caption of a cell (makeCell). @param {HTMLDivElement} el */
const thumbOf = (el) => /** @type {HTMLImageElement} */ (el.firstChild);

/**
 * @param {HTMLDivElement} el
 * @param {number} i
 * @param {Frame | undefined} frame
 */
function fillCell(el, i, frame) {
  el.classList.toggle('selected', i === state.selected);
  const { start, end } = state.range;
  el.classList.toggle('in-range', start !== null && i >= start && i <= (end ?? start));
  if (!frame || el.dataset.name === frame.name) return;
  el.dataset.name = frame.name;
  el.dataset.index = String(i);
  el.classList.toggle('fresh', state.fresh.has(frame.name));
  thumbOf(el).src = thumbnailPath(frame.name);
  uncaptioned.push([el, frame]);
}

/**
 * Cells given a frame (fillCell) whose caption and title are still to be written. A thumbnail's
 * request leaves in a microtask queued when its src is set (HTML's "update the image data"),
 * and the first caption makes the page's date formatters (ICU's data: 20-35 ms in Chromium):
 * written in a microtask queued after all of those (captionSoon, when the cells are filled),
 * the captions do not hold the first screen's requests back, and still appear in the same
 * frame as their cells.
 * @type {[HTMLDivElement, Frame][]}
 */
const uncaptioned = [];

function captionSoon() {
  if (uncaptioned.length > 0) queueMicrotask(caption);
}

function caption() {
  for (const [el, frame] of uncaptioned.splice(0)) {
    if (el.dataset.name !== frame.name) continue;
    /** @type {HTMLSpanElement} */ (el.lastChild).textContent = fmt().clock.format(new Date(frame.time));
    el.title = fmt().full.format(new Date(frame.time));
  }
}

function render() {
  const total = state.summary?.total ?? 0;
  const top = grid.scrollTop;
  const firstRow = Math.max(0, Math.floor(top / CELL_H) - 1);
  const lastRow = rowsFor(top, grid.clientHeight);
  const first = firstRow * state.cols;
  const last = Math.min(total, lastRow * state.cols);
  for (const [i, el] of cells) {
    if (i < first || i >= last) {
      // Dropping src lets the browser cancel a thumbnail no longer on screen.
      thumbOf(el).removeAttribute('src');
      el.remove();
      cells.delete(i);
    }
  }
  for (let i = first; i < last; i++) {
    let el = cells.get(i);
    if (!el) {
      el = makeCell(i);
      cells.set(i, el);
      spacer.append(el);
    }
    fillCell(el, i, frameNow(i));
  }
  captionSoon();
}

function scrollToSelected() {
  const row = Math.floor(state.selected / state.cols);
  const top = row * CELL_H;
  if (top < grid.scrollTop) grid.scrollTop = top;
  else if (top + CELL_H > grid.scrollTop + grid.clientHeight) grid.scrollTop = top + CELL_H - grid.clientHeight;
  scheduleRender();
}

grid.addEventListener('scroll', scheduleRender, { passive: true });
new ResizeObserver(() => layout()).observe(grid);

// ---------------------------------------------------------------- the day's timeline

const canvas = $('bars');

/**
 * Whether anything was drawn on the timeline's canvas yet: until then it is blank, and is not
 * cleared, since making its context (the page's first: about 20 ms of the main thread here)
 * for nothing would hold up the first screen.
 */
let timelineDrawn = false;

/** The timeline's canvas, sized to the screen's pixels and cleared. */
function clearCanvas() {
  timelineDrawn = true;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

function drawTimeline() {
  if (state.view === 'events') return drawEventTimeline();
  const s = state.summary;
  if (!s && !timelineDrawn) return;
  const { ctx, w, h } = clearCanvas();
  if (!s) return;
  const from = Date.parse(s.from);
  const span = Date.parse(s.to) - from;
  const x = (/** @type {number} */ t) => ((t - from) / span) * w;
  const barsH = h - 16;
  // Visible part of the grid, as a band.
  const total = s.total;
  const firstVisible = Math.floor(grid.scrollTop / CELL_H) * state.cols;
  const lastVisible = Math.min(total - 1, Math.ceil((grid.scrollTop + grid.clientHeight) / CELL_H) * state.cols - 1);
  const a = frameNow(firstVisible);
  const b = frameNow(lastVisible);
  if (a && b) {
    ctx.fillStyle = 'rgba(120,160,255,0.15)';
    ctx.fillRect(x(Date.parse(a.time)), 0, Math.max(2, x(Date.parse(b.time)) - x(Date.parse(a.time))), barsH);
  }
  const max = Math.max(1, ...s.buckets);
  const bw = w / s.buckets.length;
  ctx.fillStyle = '#6fa8ff';
  s.buckets.forEach((count, i) => {
    if (count === 0) return;
    const bh = 2 + (barsH - 2) * Math.sqrt(count / max);
    ctx.fillRect(i * bw, barsH - bh, Math.max(1, bw - 0.5), bh);
  });
  // Hour ticks, labelled in the server's zone (a day may be 23 or 25 hours long).
  ctx.fillStyle = '#8a8f98';
  ctx.font = '10px system-ui, sans-serif';
  const every = w < 500 ? 6 : w < 900 ? 3 : 2;
  for (let t = from, n = 0; t < from + span; t += 3_600_000, n++) {
    ctx.fillRect(x(t), barsH, 1, 4);
    if (n % every === 0) ctx.fillText(fmt().hour.format(new Date(t)), x(t) + 2, h - 2);
  }
  /**
   * @param {number | null} i
   * @param {string} color
   */
  const mark = (i, color) => {
    const f = i === null ? undefined : frameNow(i);
    if (!f) return;
    ctx.fillStyle = color;
    ctx.fillRect(x(Date.parse(f.time)) - 1, 0, 2, barsH);
  };
  mark(state.range.start, '#4cd07d');
  mark(state.range.end, '#4cd07d');
  mark(state.selected, '#ff5a5a');
}

canvas.addEventListener('click', async (e) => {
  if (state.view === 'events') return pickOnTimeline(e);
  const s = state.summary;
  if (!s || s.total === 0) return;
  const rect = canvas.getBoundingClientRect();
  const from = Date.parse(s.from);
  const at = new Date(from + ((e.clientX - rect.left) / rect.width) * (Date.parse(s.to) - from));
  /** @type {FramePage} */
  const res = await api(`/api/frames?${q({ camera: state.camera, day: state.day, at: at.toISOString(), limit: 1 })}`);
  go(Math.min(res.offset, s.total - 1));
});

// ---------------------------------------------------------------- selection and the viewer

const viewer = $('viewer');
const full = $('full');
const nofull = $('nofull');
let shown = 0;

/** @param {number} i */
async function go(i) {
  if (state.clip) {
    state.clipAt = Math.max(0, Math.min(state.clip.frames.length - 1, i));
    if (state.viewer) await showFrame(state.clipAt);
    drawTimeline();
    return;
  }
  const total = state.summary?.total ?? 0;
  if (total === 0) return;
  state.selected = Math.max(0, Math.min(total - 1, i));
  scrollToSelected();
  for (const [j, el] of cells) el.classList.toggle('selected', j === state.selected);
  if (state.viewer) await showFrame(state.selected);
}

/** @param {number} i */
async function showFrame(i) {
  const ticket = ++shown;
  const frame = await frameAt(i);
  if (ticket !== shown || !frame) return;
  full.hidden = false;
  nofull.hidden = true;
  full.src = `/frames/${frame.name}`;
  viewer.dataset.name = frame.name;
  viewer.dataset.index = String(i);
  viewer.dataset.time = frame.time;
  $('vtime').textContent = fmt().full.format(new Date(frame.time));
  $('vpos').textContent = `${(i + 1).toLocaleString()} / ${viewTotal().toLocaleString()}${state.clip ? ` · event ${state.clip.event.camera}` : ''}`;
  const vname = $('vname');
  vname.textContent = frame.name.slice(frame.name.lastIndexOf('/') + 1);
  vname.href = full.src;
  // The next one is usually wanted next: have it in the cache by then.
  frameAt(i + 1).then((next) => next && (new Image().src = `/frames/${next.name}`));
  try {
    await full.decode();
  } catch {
    // Replaced by a later frame before it finished, or not served: the server refuses a frame
    // whose header claims more pixels than its limit (a decompression bomb), and says why.
    if (ticket === shown) await explainMissing(frame.name, ticket);
  }
}

/**
 * A frame the server would not send shows its reason instead of a broken image.
 * @param {string} name @param {number} ticket
 */
async function explainMissing(name, ticket) {
  const reply = await fetch(`/frames/${name}`, { method: 'GET', headers: { accept: 'application/json' } }).catch(() => undefined);
  if (!reply || reply.ok || ticket !== shown) return;
  /** @type {{ message?: string }} */
  const body = await reply.json().catch(() => ({}));
  full.hidden = true;
  full.removeAttribute('src');
  nofull.textContent = `This frame is not shown: ${body.message ?? `the server answered ${reply.status}`}`;
  nofull.hidden = false;
}

/** Frames the viewer steps through: the event being played, or the open day's. */
const viewTotal = () => (state.clip ? state.clip.frames.length : state.summary?.total ?? 0);
const viewAt = () => (state.clip ? state.clipAt : state.selected);

function openViewer() {
  if (!viewTotal()) return;
  state.viewer = true;
  viewer.hidden = false;
  showFrame(viewAt());
}

function closeViewer() {
  stopPlay();
  state.viewer = false;
  viewer.hidden = true;
  if (state.clip) {
    state.clip = null;
    writeAddress();
    $('events').focus();
  } else grid.focus();
}

function updateRange() {
  const { start, end } = state.range;
  const label = (/** @type {number | null} */ i) => {
    if (i === null) return '…';
    const frame = frameNow(i);
    return frame ? fmt().clock.format(new Date(frame.time)) : `#${i + 1}`;
  };
  $('vrange').textContent = start === null && end === null ? '' : `play range ${label(start)} – ${label(end)}`;
  for (const [i, el] of cells) fillCell(el, i, frameNow(i));
  captionSoon();
  drawTimeline();
}

// ---------------------------------------------------------------- play

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

function stopPlay() {
  state.playing = false;
  $('play').textContent = '▶ Play';
}

/** Steps through the play range (default: from here to the day's last frame) at the chosen rate. */
async function play() {
  const total = viewTotal();
  if (state.playing || !total) return;
  if (!state.viewer) openViewer();
  // An event plays whole; the day plays its marked range.
  const range = state.clip ? { start: null, end: null } : state.range;
  const start = range.start ?? 0;
  // An event still going on may grow while it plays.
  const end = () => Math.min(viewTotal() - 1, range.end ?? Infinity);
  let i = viewAt();
  if (i < start || i >= end()) i = start;
  state.playing = true;
  $('play').textContent = '❚❚ Pause';
  while (state.playing && i <= end()) {
    const t0 = performance.now();
    await go(i);
    const wait = 1000 / Number($('fps').value) - (performance.now() - t0);
    if (wait > 0) await sleep(wait);
    i++;
  }
  stopPlay();
}

$('play').onclick = () => (state.playing ? stopPlay() : play());
$('prev').onclick = () => go(viewAt() - 1);
$('next').onclick = () => go(viewAt() + 1);
$('close').onclick = closeViewer;
// Clicking a control must not take the keyboard away from the frames (Space would press it).
document.addEventListener('mousedown', (e) => e.target instanceof Element && e.target.closest('button') && e.preventDefault());
$('fps').onchange = () => $('fps').blur();

// ---------------------------------------------------------------- keys

document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  if (state.view === 'events' && !state.viewer && e.key !== 'Enter') return;
  const total = viewTotal();
  const rowsOnScreen = Math.max(1, Math.floor(grid.clientHeight / CELL_H));
  switch (e.key) {
    case 'ArrowRight': go(viewAt() + 1); break;
    case 'ArrowLeft': go(viewAt() - 1); break;
    case 'ArrowDown': if (!state.viewer) go(state.selected + state.cols); break;
    case 'ArrowUp': if (!state.viewer) go(state.selected - state.cols); break;
    case 'PageDown': go(state.selected + state.cols * rowsOnScreen); break;
    case 'PageUp': go(state.selected - state.cols * rowsOnScreen); break;
    case 'Home': go(0); break;
    case 'Enter': if (state.view === 'events' && !state.viewer) { if (state.eventId) playEvent(state.eventId); break; } if (!state.viewer) openViewer(); break;
    case 'End': go(total - 1); break;
    case ' ': state.playing ? stopPlay() : play(); break;
    case '[': if (state.clip) break; state.range.start = state.selected; updateRange(); break;
    case ']': if (state.clip) break; state.range.end = state.selected; updateRange(); break;
    case 'Escape':
      if (state.playing) stopPlay();
      else if (state.viewer) closeViewer();
      else {
        state.range = { start: null, end: null };
        updateRange();
      }
      break;
    default:
      return;
  }
  e.preventDefault();
});

// ---------------------------------------------------------------- live updates

/** @param {NewFrame[]} frames */
async function onFrames(frames) {
  let camerasChanged = false;
  for (const f of frames) {
    for (const arriving of daysArriving) if (arriving.camera === f.camera) arriving.days.add(f.day);
    if (!state.cameras.includes(f.camera)) {
      state.cameras.push(f.camera);
      state.cameras.sort();
      camerasChanged = true;
    }
    if (f.camera === state.camera && !state.days.includes(f.day)) {
      state.days.push(f.day);
      state.days.sort();
      renderDays();
    }
  }
  if (camerasChanged) renderCameras();
  if (!state.camera) return selectCamera(state.cameras[0]);
  const mine = frames.filter((f) => f.camera === state.camera && f.day === state.day);
  if (mine.length === 0 || !state.summary) return;
  const generation = state.generation;
  /** @type {DaySummary} */
  const summary = await api(dayPath(state.camera, state.day));
  if (generation !== state.generation) return;
  const oldTotal = state.summary.total;
  const lastKnown = oldTotal > 0 ? frameNow(oldTotal - 1) : undefined;
  const selectedFrame = frameNow(state.selected);
  const wasAtEnd = grid.scrollTop + grid.clientHeight >= grid.scrollHeight - CELL_H;
  for (const f of mine) {
    state.fresh.add(f.name);
    setTimeout(() => state.fresh.delete(f.name), 10_000);
  }
  if (lastKnown && mine.every((f) => f.time >= lastKnown.time)) {
    // The usual case, frames newer than all others: only the last page changes.
    state.pages.delete(Math.floor((oldTotal - 1) / PAGE));
  } else {
    // A late frame (from a sender's spool) lands inside the day: indexes after it move.
    state.pages.clear();
    if (selectedFrame) state.selected += mine.filter((f) => f.time < selectedFrame.time).length;
  }
  state.summary = summary;
  updateCount();
  $('empty').hidden = summary.total > 0;
  layout();
  if ($('follow').checked && !state.playing && !state.clip) await go(summary.total - 1);
  else if (wasAtEnd && !state.viewer) grid.scrollTop = grid.scrollHeight;
}

/**
 * Frames were pruned: the days list and, if it lost frames, the open day; the view stays put.
 * @param {{ days: { camera: string, day: string }[] }} removed
 */
async function onRemoved({ days }) {
  const mine = days.filter((d) => d.camera === state.camera);
  const camera = state.camera;
  if (mine.length === 0 || camera === null) return;
  const list = await fetchDays(camera);
  if (state.camera !== camera) return;
  state.days = list;
  renderDays();
  if (!state.summary || !mine.some((d) => d.day === state.day)) return;
  const generation = state.generation;
  /** @type {DaySummary} */
  const summary = await api(dayPath(camera, state.day));
  if (generation !== state.generation) return;
  state.summary = summary;
  state.pages.clear();
  state.selected = Math.max(0, Math.min(state.selected, summary.total - 1));
  updateCount();
  $('empty').hidden = summary.total > 0;
  layout();
  if (state.viewer && !state.clip) summary.total > 0 ? showFrame(state.selected) : closeViewer();
}

function connect() {
  const events = new EventSource('/api/feed');
  events.onopen = () => say('● live', 'good');
  events.onerror = () => say('reconnecting…', 'bad');
  events.addEventListener('frames', (/** @type {MessageEvent<string>} */ e) => onFrames(JSON.parse(e.data)).catch((err) => say(err.message, 'bad')));
  events.addEventListener('event', (/** @type {MessageEvent<string>} */ e) => onEvent(JSON.parse(e.data)).catch((err) => say(err.message, 'bad')));
  events.addEventListener('removed', (/** @type {MessageEvent<string>} */ e) => onRemoved(JSON.parse(e.data)).catch((err) => say(err.message, 'bad')));
}

// ---------------------------------------------------------------- the Events view

/** The address says the view, camera and day (#...), and the event played (?event=ID). */
function writeAddress() {
  const query = q({
    camera: state.camera,
    day: state.day,
    ...(state.view === 'frames' ? { view: 'frames' } : {}),
    ...($('allcams').checked ? { all: 1 } : {}),
    ...(state.clip ? { event: state.clip.event.id } : {}),
  });
  const address = query ? `${location.pathname}?${query}` : location.pathname;
  // The same (the page opened at it, or nothing changed): no same-document navigation to make.
  if (address !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, '', address);
}

/** @param {'events' | 'frames'} view */
function setView(view) {
  state.view = view;
  $('events').hidden = view !== 'events';
  grid.hidden = view !== 'frames';
  $('follow-label').hidden = view !== 'frames';
  $('allcams-label').hidden = view !== 'events';
  $('zoom').hidden = view !== 'events';
  $('count').hidden = view !== 'frames';
  $('timeline').title = view === 'events' ? 'Events of the day; click one to select it' : 'Frames per 5 minutes; click to jump';
  for (const b of document.querySelectorAll('.tabs button')) b.setAttribute('aria-selected', String(/** @type {HTMLElement} */ (b).dataset.view === view));
  // Without a day there is nothing to lay out yet (showDay does); the grid's size observer
  // lays it out when it first appears.
  if (view === 'frames' && state.summary) layout();
  if (view === 'events' && state.day && state.dayEvents?.day !== state.day) loadEvents().catch((e) => say(`cannot load events: ${e.message}`, 'bad'));
  if (state.day) writeAddress();
  if (zoneKnown) renderTitle();
  drawTimeline();
}

/** Local hour:minute:second of an event's start, and how long it lasted. */
const seconds = (/** @type {number} */ ms) => Math.round(ms / 1000);
/** @param {number} ms */
function duration(ms) {
  const s = seconds(ms);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The camera and local day of an event id (CAMERA-yyyyMMddTHHmmss.SSSZ), in the server's zone. */
/** @param {string} id */
function eventOf(id) {
  const m = /^(.+)-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(id);
  if (!m) return undefined;
  const start = new Date(`${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}.${m[8]}Z`);
  if (Number.isNaN(start.getTime())) return undefined;
  return { camera: m[1], day: new Intl.DateTimeFormat('en-CA', { timeZone: state.timeZone }).format(start) };
}

/** @param {(path: string) => Promise<any>} [ask] how (firstAnswer when a day opens) */
async function loadEvents(ask = api) {
  const day = state.day;
  const camera = $('allcams').checked ? null : state.camera;
  if (!day) return;
  const generation = state.generation;
  /** @type {DayEvents} */
  const res = await ask(eventsPath(day, camera));
  if (generation !== state.generation || day !== state.day) return;
  state.dayEvents = res;
  state.events = [...res.events].reverse();
  renderEvents();
}

/** @param {FrameEvent} event */
function card(event) {
  const b = document.createElement('button');
  b.className = 'card';
  b.dataset.id = event.id;
  const img = document.createElement('img');
  img.loading = 'lazy';
  img.decoding = 'async';
  img.alt = '';
  const when = document.createElement('span');
  when.className = 'when';
  const what = document.createElement('span');
  what.className = 'what';
  b.append(img, when, what);
  b.onclick = () => playEvent(event.id);
  fillCard(b, event);
  return b;
}

/**
 * @param {HTMLElement} b
 * @param {FrameEvent} event
 */
function fillCard(b, event) {
  const img = /** @type {HTMLImageElement} */ (b.querySelector('img'));
  if (img.dataset.cover !== event.cover) {
    img.dataset.cover = event.cover;
    img.src = thumbnailPath(event.cover);
  }
  const start = new Date(event.start);
  /** @type {HTMLElement} */ (b.querySelector('.when')).textContent = fmt().clock.format(start);
  /** @type {HTMLElement} */ (b.querySelector('.what')).textContent =
    `${duration(Date.parse(event.last) - start.getTime())} · ${event.frames.toLocaleString()} frame${event.frames === 1 ? '' : 's'} · ${event.camera}`;
  b.title = fmt().full.format(start);
  b.classList.toggle('open', event.open);
  b.classList.toggle('selected', event.id === state.eventId);
}

function renderEvents() {
  const list = $('events');
  const empty = $('no-events');
  const kept = new Map([...list.querySelectorAll('.card')].map((el) => [/** @type {HTMLElement} */ (el).dataset.id, /** @type {HTMLElement} */ (el)]));
  const cards = state.events.map((event) => {
    const el = kept.get(event.id) ?? card(event);
    fillCard(el, event);
    return el;
  });
  list.replaceChildren(empty, ...cards);
  empty.hidden = cards.length > 0;
  renderTitle();
  drawTimeline();
}

function renderTitle() {
  if (state.view === 'events') {
    const camera = $('allcams').checked ? 'all cameras' : state.camera;
    const n = state.events.length;
    $('title').textContent = state.day ? `${camera} · ${dayLabel(state.day)} · ${n} event${n === 1 ? '' : 's'}` : state.camera ?? 'No cameras yet';
  } else {
    const summary = state.summary;
    $('title').textContent = summary ? `${state.camera} · ${dayLabel(summary.day)}` : state.camera ?? 'No cameras yet';
  }
}

/**
 * Plays an event: its frames, first to last, in the viewer.
 * @param {string} id
 */
async function playEvent(id) {
  /** @type {EventClip} */
  const clip = await api(`/api/event?${q({ id })}`).catch((e) => {
    say(`cannot play event ${id}: ${e.message}`, 'bad');
    return null;
  });
  if (!clip || clip.frames.length === 0) return;
  stopPlay();
  state.clip = clip;
  state.clipAt = 0;
  selectEvent(id);
  writeAddress();
  openViewer();
  await play();
}

/** @param {string} id */
function selectEvent(id) {
  state.eventId = id;
  for (const el of $('events').querySelectorAll('.card')) el.classList.toggle('selected', /** @type {HTMLElement} */ (el).dataset.id === id);
  $('events').querySelector(`.card[data-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'nearest' });
  drawTimeline();
}

/**
 * An event started, grew or ended: its card, live; an event being played gets its new frames.
 * @param {EventChange} change
 */
async function onEvent(change) {
  const { change: kind, day, ...event } = change;
  if (state.clip?.event.id === event.id && kind !== 'start') {
    /** @type {EventClip} */
    const clip = await api(`/api/event?${q({ id: event.id })}`);
    if (state.clip?.event.id === event.id) state.clip = clip;
  }
  if (day !== state.day || (!$('allcams').checked && event.camera !== state.camera)) return;
  const i = state.events.findIndex((e) => e.id === event.id);
  if (i >= 0) state.events[i] = event;
  else {
    state.events.push(event);
    state.events.sort((a, b) => Date.parse(b.start) - Date.parse(a.start) || (a.camera < b.camera ? -1 : 1));
  }
  renderEvents();
  if (kind === 'start') {
    const el = $('events').querySelector(`.card[data-id="${CSS.escape(event.id)}"]`);
    el?.classList.add('fresh');
    setTimeout(() => el?.classList.remove('fresh'), 10_000);
  }
}

/** What the timeline spans in the Events view: the day, an hour, or the selected event. */
function eventSpan() {
  const d = state.dayEvents;
  if (!d) return undefined;
  const from = Date.parse(d.from);
  const to = Date.parse(d.to);
  const selected = state.events.find((e) => e.id === state.eventId);
  if (state.zoom === 'event' && selected) {
    const start = Date.parse(selected.start);
    const end = Date.parse(selected.end ?? selected.last);
    const pad = Math.max(2000, (end - start) / 10);
    return { from: start - pad, to: end + pad };
  }
  if (state.zoom === 'hour') {
    const anchor = state.anchor ?? (selected ? Date.parse(selected.start) : from);
    // Hours from the local midnight, which is also right in zones half an hour off UTC.
    const hour = from + Math.floor((anchor - from) / 3_600_000) * 3_600_000;
    return { from: hour, to: Math.min(to, hour + 3_600_000) };
  }
  return { from, to };
}

function drawEventTimeline() {
  for (const b of document.querySelectorAll('.zoom button')) b.classList.toggle('current', /** @type {HTMLElement} */ (b).dataset.zoom === state.zoom);
  const span = eventSpan();
  if (!span && !timelineDrawn) return;
  const { ctx, w, h } = clearCanvas();
  const tl = $('timeline');
  if (!span) return;
  tl.dataset.from = new Date(span.from).toISOString();
  tl.dataset.to = new Date(span.to).toISOString();
  const x = (/** @type {number} */ t) => ((t - span.from) / (span.to - span.from)) * w;
  const barsH = h - 16;
  for (const e of state.events) {
    const a = x(Date.parse(e.start));
    const b = x(Date.parse(e.end ?? e.last));
    if (b < 0 || a > w) continue;
    ctx.fillStyle = e.id === state.eventId ? '#ff5a5a' : e.open ? '#ff8a5a' : '#6fa8ff';
    ctx.fillRect(a, 4, Math.max(3, b - a), barsH - 4);
  }
  // The frames of the event being played, and the one on screen.
  if (state.clip) {
    ctx.fillStyle = '#ffffffaa';
    for (const f of state.clip.frames) ctx.fillRect(x(Date.parse(f.time)), barsH - 6, 1, 6);
    const f = state.clip.frames[state.clipAt];
    if (f) {
      ctx.fillStyle = '#4cd07d';
      ctx.fillRect(x(Date.parse(f.time)) - 1, 0, 2, barsH);
    }
  }
  // Ticks every hour, 5 minutes or few seconds, as the zoom asks; labels in the server's zone.
  const length = span.to - span.from;
  const step = length > 6 * 3_600_000 ? 3_600_000 : length > 1_800_000 ? 300_000 : length > 120_000 ? 60_000 : 5_000;
  const labelEvery = Math.max(1, Math.ceil((70 * length) / (w * step)));
  const tick = step >= 60_000 ? fmt().hour : fmt().clock;
  ctx.fillStyle = '#8a8f98';
  ctx.font = '10px system-ui, sans-serif';
  const from = state.dayEvents ? Date.parse(state.dayEvents.from) : span.from;
  for (let t = from + Math.ceil((span.from - from) / step) * step, n = 0; t < span.to; t += step, n++) {
    ctx.fillRect(x(t), barsH, 1, 4);
    if (n % labelEvery === 0) ctx.fillText(tick.format(new Date(t)), x(t) + 2, h - 2);
  }
}

/** A click on the Events timeline selects the event nearest to it, and is the hour to zoom to. */
/** @param {MouseEvent} e */
function pickOnTimeline(e) {
  const span = eventSpan();
  if (!span) return;
  const rect = canvas.getBoundingClientRect();
  const perPx = (span.to - span.from) / rect.width;
  const t = span.from + (e.clientX - rect.left) * perPx;
  state.anchor = t;
  let best = /** @type {FrameEvent | undefined} */ (undefined);
  let bestDistance = 8 * perPx;
  for (const ev of state.events) {
    const a = Date.parse(ev.start);
    const b = Date.parse(ev.end ?? ev.last);
    const d = t < a ? a - t : t > b ? t - b : 0;
    if (d <= bestDistance) [best, bestDistance] = [ev, d];
  }
  if (best) selectEvent(best.id);
  else drawTimeline();
}

for (const b of document.querySelectorAll('.tabs button')) {
  /** @type {HTMLElement} */ (b).onclick = () => setView(/** @type {'events' | 'frames'} */ (/** @type {HTMLElement} */ (b).dataset.view));
}
for (const b of document.querySelectorAll('.zoom button')) {
  /** @type {HTMLElement} */ (b).onclick = () => {
    state.zoom = /** @type {'day' | 'hour' | 'event'} */ (/** @type {HTMLElement} */ (b).dataset.zoom);
    if (state.zoom !== 'hour') state.anchor = null;
    drawTimeline();
  };
}
$('allcams').onchange = () => {
  $('allcams').blur();
  writeAddress();
  loadEvents().catch((e) => say(`cannot load events: ${e.message}`, 'bad'));
};

// ---------------------------------------------------------------- start

async function start() {
  /** @type {{ timeZone: string, cameras: string[] }} */
  const { timeZone, cameras } = await firstAnswer('/api/cameras');
  setZone(timeZone);
  state.cameras = cameras;
  renderCameras();
  connect();
  const wanted = wantedAddress();
  setView(wanted.get('view') === 'frames' ? 'frames' : 'events');
  $('allcams').checked = wanted.get('all') === '1';
  // A link to an event (the notifier's ?event=ID) opens its camera and day, and plays it.
  const linked = wanted.get('event');
  const of = linked ? eventOf(linked) : undefined;
  const asked = of?.camera ?? wanted.get('camera');
  const camera = asked !== null && cameras.includes(asked) ? asked : cameras[0];
  if (camera) await selectCamera(camera, of?.day ?? wanted.get('day'));
  else showDay(null);
  if (linked) await playEvent(linked);
}

start().catch((e) => say(`cannot load: ${e.message}`, 'bad'));
