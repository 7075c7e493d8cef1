import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { encodeHeader } from '@surveillance/shared';
import { exchange } from './helpers/client.ts';
import { galleryPage, launchChromium, SERVER_TZ, startGallery, type RunningGallery } from './helpers/gallery.ts';
import { JPEGS, storeFrame } from './helpers/notify.ts';
import { startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The Events view in a real Chromium: cards of a day's events, a card that appears live for an
 * event a real receiver stores, playing an event in the viewer, the timeline's zoom, ?event=ID.
 * Capture times are on 2026-11-21 in Berlin, before any `now` these tests run at; --event-gap 2s.
 */

const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000, interval: 50 });

const T0 = Date.parse('2026-11-21T09:00:00.000Z'); // 10:00 in Berlin
const at = (s: number) => new Date(T0 + s * 1000);
const stamp = (t: Date) => t.toISOString().replace(/[-:]/g, '');
const clock = (time: Date) =>
  new Intl.DateTimeFormat('en-US', { timeZone: SERVER_TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(time);

describe.skipIf(!needTools('chromium', 'systemd-socket-activate'))('the Events view in a real browser', () => {
  const dir = tempDir('gallery-events-browser-');
  let gallery: RunningGallery;
  let receiver: RunningReceiver;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  /** Names of the first event's frames, oldest first. */
  const first: string[] = [];

  const cardIds = () => page.locator('#events .card').evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.id));
  /** Records every frame the viewer shows from now on, in order. */
  const recordViewer = () =>
    page.evaluate(() => {
      const w = window as unknown as { shown: string[] };
      w.shown = [];
      const viewer = document.getElementById('viewer')!;
      new MutationObserver(() => {
        const name = viewer.dataset.name;
        if (name && w.shown.at(-1) !== name) w.shown.push(name);
      }).observe(viewer, { attributes: true, attributeFilter: ['data-name'] });
    });
  const shown = () => page.evaluate(() => (window as unknown as { shown: string[] }).shown);

  beforeAll(async () => {
    // Two events of `front` (0..3 s, with a heartbeat after it; 60 s) and one of `garden` (30 s).
    for (const [s, score] of [[0, 0.2], [1, 0.5], [2, 0.9], [3, 0.1]] as const) first.push(storeFrame(dir.path, 'front', at(s), JPEGS[s % 3]!, 'motion', score));
    storeFrame(dir.path, 'front', at(4), JPEGS[0]!, 'heartbeat');
    storeFrame(dir.path, 'front', at(60), JPEGS[1]!, 'motion', 0.3);
    storeFrame(dir.path, 'garden', at(30), JPEGS[2]!, 'motion', 0.3);
    gallery = await startGallery(dir.path, ['--event-gap', '2s']);
    receiver = await startReceiver('inetd', dir.path, ['--min-free', '0']);
    browser = await launchChromium();
    page = await galleryPage(browser, errors);
  });

  afterAll(async () => {
    await browser?.close();
    await receiver?.stop();
    await gallery?.stop();
    dir.remove();
  });

  it('opens on the Events view: a card per event of the day, newest first, with cover, time, duration, frames', async () => {
    await page.goto(gallery.url);
    await poll(cardIds).toEqual([`front-${stamp(at(60))}`, `front-${stamp(at(0))}`]);
    expect(await page.isVisible('#grid')).toBe(false);
    const card = page.locator(`.card[data-id="front-${stamp(at(0))}"]`);
    expect(await card.locator('.when').textContent()).toBe(clock(at(0)));
    expect(await card.locator('.what').textContent()).toBe('3 s · 4 frames · front');
    expect(await card.locator('img').getAttribute('src')).toBe(`/thumbs/${first[2]}`);
    await poll(() => card.locator('img').evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    // All cameras: garden's event too, in time order.
    await page.check('#allcams');
    await poll(cardIds).toEqual([`front-${stamp(at(60))}`, `garden-${stamp(at(30))}`, `front-${stamp(at(0))}`]);
    await page.uncheck('#allcams');
    await poll(cardIds).toHaveLength(2);
  });

  it('shows a card live for an event a real receiver stores, and it grows', async () => {
    await poll(() => page.textContent('#status')).toBe('● live');
    for (const [i, s] of [120, 120.5, 121].entries()) {
      const id = `live-${i}`;
      const body = JPEGS[i]!;
      const { reply } = await exchange(receiver.port, [encodeHeader({ camera: 'front', id, time: at(s), length: body.length, reason: 'motion', score: 0.1 * (i + 1) }), body]);
      expect(reply).toMatch(new RegExp(`^OK ${id} `));
    }
    const id = `front-${stamp(at(120))}`;
    await poll(cardIds).toEqual([id, `front-${stamp(at(60))}`, `front-${stamp(at(0))}`]);
    await poll(() => page.locator(`.card[data-id="${id}"] .what`).textContent()).toBe('1 s · 3 frames · front');
    // Over once no frame came for the gap.
    await poll(() => page.locator(`.card[data-id="${id}"]`).getAttribute('class')).not.toContain('open');
  });

  it('plays an event when its card is clicked: its frames in order, heartbeats left out', async () => {
    await recordViewer();
    await page.click(`.card[data-id="front-${stamp(at(0))}"]`);
    await poll(() => page.isVisible('#viewer')).toBe(true);
    await poll(shown).toEqual(first);
    await poll(() => page.textContent('#play')).toBe('▶ Play');
    expect(await page.textContent('#vpos')).toBe('4 / 4 · event front');
    expect(new URL(page.url()).searchParams.get('event')).toBe(`front-${stamp(at(0))}`);
    // Pause and step by hand.
    await page.keyboard.press('Home');
    await poll(() => page.getAttribute('#viewer', 'data-name')).toBe(first[0]);
    await page.keyboard.press('ArrowRight');
    await poll(() => page.getAttribute('#viewer', 'data-name')).toBe(first[1]);
    await page.keyboard.press('Escape');
    await poll(() => page.isVisible('#viewer')).toBe(false);
    expect(new URL(page.url()).searchParams.get('event')).toBeNull();
  });

  it('zooms the timeline to the selected event and to its hour', async () => {
    const span = async () => {
      const [from, to] = await Promise.all([page.getAttribute('#timeline', 'data-from'), page.getAttribute('#timeline', 'data-to')]);
      return [Date.parse(from!), Date.parse(to!)];
    };
    await page.click('#zoom-event');
    await poll(async () => (await span())[1] - (await span())[0] < 60_000).toBe(true);
    const [a, b] = await span();
    expect(a).toBeLessThan(at(0).getTime());
    expect(b).toBeGreaterThan(at(3).getTime());
    expect(b - a).toBeLessThan(60_000);
    await page.click('#zoom-hour');
    await poll(span).toEqual([Date.parse('2026-11-21T09:00:00Z'), Date.parse('2026-11-21T10:00:00Z')]);
    await page.click('#zoom-day');
    await poll(span).toEqual([Date.parse('2026-11-20T23:00:00Z'), Date.parse('2026-11-21T23:00:00Z')]);
  });

  it('opens and plays the event named in the address (?event=ID, the notifier links)', async () => {
    await page.goto(`${gallery.url}?event=front-${stamp(at(0))}`);
    await poll(() => page.isVisible('#viewer')).toBe(true);
    await poll(() => page.getAttribute('#viewer', 'data-name')).toBe(first.at(-1));
    await poll(() => page.textContent('#play')).toBe('▶ Play');
    expect(await page.getAttribute(`.card[data-id="front-${stamp(at(0))}"]`, 'class')).toContain('selected');
    await page.keyboard.press('Escape');
  });

  it('keeps the Frames view a tab away', async () => {
    await page.click('#tab-frames');
    expect(await page.isVisible('#grid')).toBe(true);
    expect(await page.isVisible('#events')).toBe(false);
    await poll(() => page.textContent('#count')).toBe('9 frames');
    await page.click('#tab-events');
    expect(await page.isVisible('#events')).toBe(true);
    expect(errors).toEqual([]);
  });
});
