// Sensor-like noise for generated frames, shared by scripts/fake-camera.mjs and the tests'
// scene generator (test/helpers/scenes.ts): plain JavaScript so that a plain-node script can
// load it, typed by sensor-noise.d.mts.

/** Entries in a noise table: a power of two, so that walking it can wrap with a mask. */
export const NOISE_TABLE_SIZE = 1 << 20;

/** A small seeded PRNG (mulberry32): the same seed gives the same frames on every machine. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values, drawn once (Box-Muller: two per pair of uniforms) and reused per pixel. */
export function normalNoiseTable(random) {
  const table = new Float32Array(NOISE_TABLE_SIZE);
  for (let i = 0; i < NOISE_TABLE_SIZE; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const t = 2 * Math.PI * random();
    table[i] = r * Math.cos(t);
    table[i + 1] = r * Math.sin(t);
  }
  return table;
}
