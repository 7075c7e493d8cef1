/**
 * A JPEG's luma at 1/8 scale, straight from the entropy-coded data: each 8x8 block of Y becomes
 * one pixel, its DC coefficient, which is the block's mean. This is what libjpeg's 1/8 DCT
 * scaling computes (jpeg_idct_1x1, as in `djpeg -scale 1/8 -grayscale`), without the colour
 * components' reconstruction, any resampling, or a round trip through a thread pool: for change
 * detection on a 1080p frame the decode is most of the cost, and most of sharp's decode at this
 * size is not the Huffman decoding that no decoder can skip.
 *
 * Only the plain case is handled: baseline or extended sequential Huffman-coded 8-bit JPEG,
 * greyscale or YCbCr (not RGB, not CMYK), whose Y is sampled at the full rate, and whose first
 * scan holds Y. That is what cameras, ffmpeg and libjpeg write. For anything else (progressive,
 * arithmetic-coded, odd sampling) and for any irregularity in the data it returns undefined, and
 * the caller decodes with libjpeg (sharp), which then accepts or rejects the frame in its own
 * words. Pure code over bytes, like the scanner: no I/O.
 */

export interface LumaFrame {
  /** One byte per pixel, row by row. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** The size libjpeg gives a frame at 1/8 scale: each dimension divided by 8, rounded up. */
export function eighthSize(width: number, height: number): { width: number; height: number } {
  return { width: Math.ceil(width / 8), height: Math.ceil(height / 8) };
}

/**
 * Bits looked up at once when decoding a Huffman code; longer codes take the slow path. 12 bits
 * hold most AC codes with their value bits, and often two or three of them (see acLookahead);
 * each table is then 16 KB, which still sits in the L1 cache beside the data.
 */
const LOOKAHEAD = 12;
const LOOKAHEAD_SIZE = 1 << LOOKAHEAD;
const LOOKAHEAD_MASK = LOOKAHEAD_SIZE - 1;
/** An AC "end of block": the coefficient index jumps past the block's last. */
const END_OF_BLOCK = 64;
/**
 * Most bits one decoding step may take: the bit reader keeps at least 25 after a refill. A code
 * whose value bits would take it further (a 10-12 bit code with a large value) is left to the
 * slow path, which refills between the code and its value.
 */
const MAX_STEP_BITS = 24;

/**
 * A Huffman table (T.81 C, F.2.2.3). Its lookahead entries say what the decoder does next for
 * each LOOKAHEAD bits of input, 0 where that takes the slow path (a code longer than
 * LOOKAHEAD, or one step of more than MAX_STEP_BITS). For DC, `length | size << 5`: the code's
 * length and the size of the difference that follows. For AC, whose values are skipped, up to
 * several codes at once, as acLookahead packs them.
 */
interface HuffmanTable {
  ac: boolean;
  lookahead: Int32Array;
  /** Largest code of each length (1-16), -1 where there is none; [17] is a sentinel. */
  maxCode: Int32Array;
  /** Index into `values` of the first code of each length, minus that code. */
  offset: Int32Array;
  values: Uint8Array;
}

function huffmanTable(ac: boolean, counts: Uint8Array, values: Uint8Array): HuffmanTable | undefined {
  /** One code per entry, as `bits | value << 5`: AC entries as acEntry makes them. */
  const single = new Int32Array(LOOKAHEAD_SIZE);
  const maxCode = new Int32Array(18).fill(-1);
  const offset = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    offset[length] = k - code;
    for (let i = 0; i < n; i++, k++, code++) {
      const symbol = values[k]!;
      // 8-bit DC differences have at most 11 bits; libjpeg refuses tables that say more than 15.
      if (!ac && symbol > 15) return undefined;
      const entry = ac ? acEntry(length, symbol) : length | (symbol << 5);
      const stepBits = ac ? entry & 31 : length + symbol;
      if (length <= LOOKAHEAD && stepBits <= MAX_STEP_BITS) {
        const shift = LOOKAHEAD - length;
        for (let fill = code << shift, end = (code + 1) << shift; fill < end; fill++) single[fill] = entry;
      }
    }
    if (n) maxCode[length] = code - 1;
    // More codes than the length has room for: a table no encoder writes.
    if (code > 1 << length) return undefined;
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  return { ac, lookahead: ac ? acLookahead(single) : single, maxCode, offset, values };
}

/**
 * Tables built lately, by the DHT bytes that define them (class, counts, values): a camera
 * writes the same tables into every frame, and building one, lookahead included, cost about
 * as much as a tenth of the comparison.
 */
const recentTables: { definition: Uint8Array; table: HuffmanTable | undefined }[] = [];
const RECENT_TABLES = 8;

/** The table one DHT entry (`definition`: Tc/Th byte, 16 counts, the values) defines. */
function cachedHuffmanTable(definition: Uint8Array): HuffmanTable | undefined {
  const tc = definition[0]! >> 4;
  for (const recent of recentTables) {
    const known = recent.definition;
    if (known.length !== definition.length || known[0]! >> 4 !== tc) continue;
    let same = true;
    for (let k = 1; k < known.length && same; k++) same = known[k] === definition[k];
    if (same) return recent.table;
  }
  // Copied: `definition` is the caller's frame, which it may reuse.
  const copy = definition.slice();
  const table = huffmanTable(tc === 1, copy.subarray(1, 17), copy.subarray(17));
  if (recentTables.unshift({ definition: copy, table }) > RECENT_TABLES) recentTables.pop();
  return table;
}

/** Run/size symbol (T.81 F.1.2.2): size 0 is EOB, or with run 15 sixteen zeros (ZRL). */
function acEntry(length: number, symbol: number): number {
  const run = symbol >> 4;
  const size = symbol & 15;
  const step = size ? run + 1 : run === 15 ? 16 : END_OF_BLOCK;
  return (length + size) | (step << 5);
}

/**
 * AC lookahead entries that take as many whole codes (with their value bits) as the LOOKAHEAD
 * bits hold: at 1080p most steps then decode two or three coefficients, for one lookup and one
 * refill test. A run of codes must not go past the block's end, where the next block's DC code
 * begins, so an entry packs the run and its first code alone:
 *   bits 0-4 the run's bits, 5-11 how far it moves the coefficient index,
 *   bits 12-17 how far all its codes but the last move it (the run is taken when the index plus
 *   this is still in the block: each of those codes then had a coefficient to decode),
 *   bits 18-22 and 23-29 the first code's bits and move, taken otherwise.
 * A run stops after an end of block, and before its prefix would reach 64.
 */
function acLookahead(single: Int32Array): Int32Array {
  const lookahead = new Int32Array(LOOKAHEAD_SIZE);
  for (let i = 0; i < LOOKAHEAD_SIZE; i++) {
    const first = single[i]!;
    if (first === 0) continue;
    let bits = first & 31;
    let step = first >> 5;
    let prefix = 0;
    while (bits < LOOKAHEAD && step < END_OF_BLOCK) {
      // The next code's bits, zero-padded: a prefix code is found from its own bits only, so
      // it is right whenever it and its value bits lie within the LOOKAHEAD bits.
      const next = single[(i << bits) & LOOKAHEAD_MASK]!;
      if (next === 0 || bits + (next & 31) > LOOKAHEAD) break;
      prefix = step;
      bits += next & 31;
      step += next >> 5;
    }
    lookahead[i] = bits | (step << 5) | (prefix << 12) | (first << 18);
  }
  return lookahead;
}

/**
 * A code the lookahead does not decode, found by length (T.81 F.2.2.3) in the top bits of
 * `peek16`: returns `length | symbol << 5`, or -1 for no code at all.
 */
function slowCode(table: HuffmanTable, peek16: number): number {
  for (let length = 1; length <= 16; length++) {
    const code = peek16 >>> (16 - length);
    if (code <= table.maxCode[length]!) return length | (table.values[code + table.offset[length]!]! << 5);
  }
  return -1;
}

interface Component {
  id: number;
  h: number;
  v: number;
  quant: number;
  dcTable: number;
  acTable: number;
}

const SOF0 = 0xc0;
const SOF1 = 0xc1;
const DHT = 0xc4;
const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DQT = 0xdb;
const DRI = 0xdd;
const APP0 = 0xe0;
const APP14 = 0xee;

/**
 * Y at 1/8 scale, or undefined when the frame is not of the kind handled here or its data is
 * not regular (the caller then asks libjpeg). `jpeg` is one whole frame, as the scanner checked.
 */
export function decodeLumaEighth(jpeg: Uint8Array): LumaFrame | undefined {
  const quant = new Array<Uint16Array | undefined>(4);
  const dc = new Array<HuffmanTable | undefined>(4);
  const ac = new Array<HuffmanTable | undefined>(4);
  let components: Component[] | undefined;
  let width = 0;
  let height = 0;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let pos = 2;
  if (jpeg[0] !== 0xff || jpeg[1] !== SOI) return undefined;
  for (;;) {
    if (pos + 4 > jpeg.length || jpeg[pos] !== 0xff) return undefined;
    const marker = jpeg[pos + 1]!;
    if (marker === 0xff) {
      pos++;
      continue;
    }
    if (marker === EOI) return undefined;
    const length = (jpeg[pos + 2]! << 8) | jpeg[pos + 3]!;
    const start = pos + 4;
    const end = pos + 2 + length;
    if (length < 2 || end > jpeg.length) return undefined;
    pos = end;
    if (marker === SOF0 || marker === SOF1) {
      if (jpeg[start] !== 8 || components) return undefined;
      height = (jpeg[start + 1]! << 8) | jpeg[start + 2]!;
      width = (jpeg[start + 3]! << 8) | jpeg[start + 4]!;
      const n = jpeg[start + 5]!;
      if ((n !== 1 && n !== 3) || length !== 8 + 3 * n || width === 0 || height === 0) return undefined;
      components = [];
      for (let c = 0; c < n; c++) {
        const at = start + 6 + 3 * c;
        const sampling = jpeg[at + 1]!;
        const h = sampling >> 4;
        const v = sampling & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4) return undefined;
        components.push({ id: jpeg[at]!, h, v, quant: jpeg[at + 2]! & 3, dcTable: 0, acTable: 0 });
      }
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== DHT && marker !== 0xc8 && marker !== 0xcc) {
      // Progressive, lossless, hierarchical or arithmetic-coded: libjpeg's business.
      return undefined;
    } else if (marker === DHT) {
      for (let at = start; at < end; ) {
        const tc = jpeg[at]! >> 4;
        const th = jpeg[at]! & 15;
        if (tc > 1 || th > 3 || at + 17 > end) return undefined;
        let total = 0;
        for (let k = at + 1; k < at + 17; k++) total += jpeg[k]!;
        if (at + 17 + total > end) return undefined;
        const table = cachedHuffmanTable(jpeg.subarray(at, at + 17 + total));
        if (!table) return undefined;
        (tc ? ac : dc)[th] = table;
        at += 17 + total;
      }
    } else if (marker === DQT) {
      for (let at = start; at < end; ) {
        const pq = jpeg[at]! >> 4;
        const tq = jpeg[at]! & 15;
        if (tq > 3 || pq > 1 || at + 1 + 64 * (pq + 1) > end) return undefined;
        // Only the DC entry is used; it comes first in zigzag order.
        const table = new Uint16Array(1);
        table[0] = pq ? (jpeg[at + 1]! << 8) | jpeg[at + 2]! : jpeg[at + 1]!;
        quant[tq] = table;
        at += 1 + 64 * (pq + 1);
      }
    } else if (marker === DRI) {
      if (length !== 4) return undefined;
      restartInterval = (jpeg[start]! << 8) | jpeg[start + 1]!;
    } else if (marker === APP0) {
      jfif ||= length >= 7 && jpeg[start] === 0x4a && jpeg[start + 1] === 0x46 && jpeg[start + 2] === 0x49 && jpeg[start + 3] === 0x46 && jpeg[start + 4] === 0;
    } else if (marker === APP14) {
      if (length >= 14 && jpeg[start] === 0x41 && jpeg[start + 1] === 0x64 && jpeg[start + 2] === 0x6f && jpeg[start + 3] === 0x62 && jpeg[start + 4] === 0x65) {
        adobeTransform = jpeg[start + 11]!;
      }
    } else if (marker === SOS) {
      if (!components) return undefined;
      const scan = scanOf(jpeg, start, end, components);
      if (!scan) return undefined;
      if (!isYcc(components, jfif, adobeTransform)) return undefined;
      return decodeScan(jpeg, end, width, height, components, scan, quant, dc, ac, restartInterval);
    }
  }
}

/** libjpeg's guess of the colour space (jdapimin.c default_decompress_parms): YCbCr or not. */
function isYcc(components: Component[], jfif: boolean, adobeTransform: number): boolean {
  if (components.length === 1) return true;
  if (jfif) return true;
  if (adobeTransform >= 0) return adobeTransform === 1;
  const [a, b, c] = components.map((k) => k.id);
  return !(a === 0x52 && b === 0x47 && c === 0x42);
}

/** The scan's components in order, if it is one this decoder reads: all of them, or Y alone. */
function scanOf(jpeg: Uint8Array, start: number, end: number, components: Component[]): Component[] | undefined {
  const n = jpeg[start]!;
  if (end - start !== 4 + 2 * n) return undefined;
  // Spectral selection 0-63 and no successive approximation: sequential.
  if (jpeg[start + 1 + 2 * n] !== 0 || jpeg[start + 2 + 2 * n] !== 63 || jpeg[start + 3 + 2 * n] !== 0) return undefined;
  const scan: Component[] = [];
  for (let k = 0; k < n; k++) {
    const component = components.find((c) => c.id === jpeg[start + 1 + 2 * k]);
    if (!component || scan.includes(component)) return undefined;
    const tables = jpeg[start + 2 + 2 * k]!;
    component.dcTable = tables >> 4;
    component.acTable = tables & 15;
    if (component.dcTable > 3 || component.acTable > 3) return undefined;
    scan.push(component);
  }
  const luma = components[0]!;
  if (n !== components.length && !(n === 1 && scan[0] === luma)) return undefined;
  // Y at the full rate: one Y block per 8x8 pixels of the frame.
  const hMax = Math.max(...components.map((c) => c.h));
  const vMax = Math.max(...components.map((c) => c.v));
  if (luma.h !== hMax || luma.v !== vMax) return undefined;
  // At most 10 blocks per MCU (T.81 B.2.3).
  if (n > 1 && scan.reduce((blocks, c) => blocks + c.h * c.v, 0) > 10) return undefined;
  return scan;
}

/**
 * Where unstuff works, kept from frame to frame: a camera's frames are all about the same size,
 * and a fresh buffer of a few hundred KB per frame is garbage the collector has to clear.
 * Decoding is synchronous, so one buffer serves every call. A Buffer, for Buffer's indexOf,
 * which searches as memchr does, many times faster than a typed array's.
 */
let unstuffBuffer = Buffer.alloc(0);

/**
 * The first scan's entropy-coded data without its byte stuffing (FF 00 is a data FF), up to the
 * marker that ends it, and where each restart marker stood in it (T.81 F.1.2.3, B.1.1.5). The
 * rest of the file is copied at once and then closed up over each FF's extra byte in place
 * (copyWithin, found by indexOf): a Buffer's subarray per FF allocated an object each, and
 * there are about a thousand in a 1080p frame. Everything after the data reads as zero, as in
 * a fresh buffer; the result is valid until the next call.
 */
function unstuff(jpeg: Uint8Array, start: number): { data: Uint8Array; length: number; restarts: number[] } | undefined {
  const copied = jpeg.length - start;
  // Room for the reader's look-ahead past the end: zero bytes, as libjpeg feeds at a marker.
  const size = copied + READ_AHEAD_BYTES;
  if (unstuffBuffer.length < size) unstuffBuffer = Buffer.alloc(size);
  const data = unstuffBuffer.subarray(0, size);
  data.set(jpeg.subarray(start));
  const restarts: number[] = [];
  let length = 0;
  let from = 0;
  for (;;) {
    const ff = data.indexOf(0xff, from);
    if (ff < 0 || ff >= copied) return undefined;
    if (length !== from) data.copyWithin(length, from, ff);
    length += ff - from;
    let at = ff + 1;
    while (at < copied && data[at] === 0xff) at++;
    if (at >= copied) return undefined;
    const next = data[at]!;
    if (next === 0x00 && at === ff + 1) {
      data[length++] = 0xff;
    } else if (next >= 0xd0 && next <= 0xd7) {
      if (next !== 0xd0 + (restarts.length & 7)) return undefined;
      restarts.push(length);
    } else {
      data.fill(0, length);
      return { data, length, restarts };
    }
    from = at + 1;
  }
}

/**
 * Per block of an MCU: its tables (indexes into `tables`, whose lookahead entries sit in one
 * array so that the decoding loop reads no objects), its component's index in the scan, and
 * for Y's blocks their place in the MCU in output pixels (x is -1 for other components).
 */
function mcuLayout(
  scan: Component[],
  luma: Component,
  interleaved: boolean,
  dcTables: (HuffmanTable | undefined)[],
  acTables: (HuffmanTable | undefined)[],
) {
  const tables: HuffmanTable[] = [];
  const index = (t: HuffmanTable): number => (tables.includes(t) ? tables.indexOf(t) : tables.push(t) - 1);
  const dcTable: number[] = [];
  const acTable: number[] = [];
  const component: number[] = [];
  const x: number[] = [];
  const y: number[] = [];
  for (const [i, c] of scan.entries()) {
    const dc = dcTables[c.dcTable];
    const ac = acTables[c.acTable];
    if (!dc || !ac) return undefined;
    for (let by = 0; by < (interleaved ? c.v : 1); by++) {
      for (let bx = 0; bx < (interleaved ? c.h : 1); bx++) {
        dcTable.push(index(dc));
        acTable.push(index(ac));
        component.push(i);
        x.push(c === luma ? bx : -1);
        y.push(by);
      }
    }
  }
  const lookahead = new Int32Array(tables.length * LOOKAHEAD_SIZE);
  tables.forEach((t, i) => lookahead.set(t.lookahead, i * LOOKAHEAD_SIZE));
  return {
    tables,
    lookahead,
    dcTable: Int32Array.from(dcTable),
    acTable: Int32Array.from(acTable),
    component: Int32Array.from(component),
    x: Int32Array.from(x),
    y: Int32Array.from(y),
  };
}

/**
 * Zero bytes after the data, as libjpeg feeds at a marker: the reader keeps up to 4 bytes
 * ahead, and corrupt data, which can go on decoding zeros, is stopped at the next MCU, having
 * read at most 10 blocks x 64 codes x 3 bytes.
 */
const READ_AHEAD_BYTES = 4 + 10 * 64 * 3;

/**
 * The entropy-coded data of the first scan, decoded row by row of MCUs by decodeMcuRow.
 */
function decodeScan(
  jpeg: Uint8Array,
  dataStart: number,
  width: number,
  height: number,
  components: Component[],
  scan: Component[],
  quant: (Uint16Array | undefined)[],
  dcTables: (HuffmanTable | undefined)[],
  acTables: (HuffmanTable | undefined)[],
  restartInterval: number,
): LumaFrame | undefined {
  const luma = components[0]!;
  const { width: outWidth, height: outHeight } = eighthSize(width, height);
  const q = quant[luma.quant]?.[0];
  if (q === undefined) return undefined;
  const entropy = unstuff(jpeg, dataStart);
  if (!entropy) return undefined;
  const { data, length: dataLength, restarts } = entropy;

  const interleaved = scan.length > 1;
  const hMax = Math.max(...components.map((c) => c.h));
  const vMax = Math.max(...components.map((c) => c.v));
  const mcusX = interleaved ? Math.ceil(width / (8 * hMax)) : outWidth;
  const mcusY = interleaved ? Math.ceil(height / (8 * vMax)) : outHeight;
  const mcuWidth = interleaved ? luma.h : 1;
  const mcuHeight = interleaved ? luma.v : 1;
  const mcus = mcusX * mcusY;
  if (restarts.length !== (restartInterval ? Math.ceil(mcus / restartInterval) - 1 : 0)) return undefined;
  // Every block takes at least 2 bits (a DC code and an end of block): a small file whose SOF
  // claims a huge frame is refused here, before its output (up to 64 MiB) is allocated.
  const blocksPerMcu = scan.reduce((blocks, c) => blocks + (interleaved ? c.h * c.v : 1), 0);
  if (dataLength * 8 < mcus * blocksPerMcu * 2) return undefined;
  const out = new Uint8Array(outWidth * outHeight);

  const layout = mcuLayout(scan, luma, interleaved, dcTables, acTables);
  if (!layout) return undefined;
  const { tables, lookahead, dcTable: blockDc, acTable: blockAc, component: componentOf, x: xOf, y: yOf } = layout;
  const reader: ScanReader = {
    data,
    lookahead,
    tables,
    blockDc,
    blockAc,
    componentOf,
    xOf,
    yOf,
    /** DC predictors, one per scan component (T.81 F.2.1.3.1). */
    predictors: new Int32Array(scan.length),
    out,
    outWidth,
    outHeight,
    mcusX,
    mcuWidth,
    mcuHeight,
    q,
    restarts,
    dataLength,
    restartInterval,
    pos: 0,
    acc: 0,
    bits: 0,
    intervalEnd: restarts.length ? restarts[0]! : dataLength,
    interval: 0,
    left: restartInterval,
  };
  for (let my = 0; my < mcusY; my++) if (!decodeMcuRow(reader, my)) return undefined;
  // Data that ran out before the last MCU, or data left over after it.
  if (((reader.pos << 3) - reader.bits + 7) >> 3 !== reader.intervalEnd) return undefined;
  return { data: out, width: outWidth, height: outHeight };
}

/**
 * What decodeMcuRow needs: the scan's layout and output, and the bit reader's state, which
 * carries over from one row of MCUs to the next.
 */
interface ScanReader {
  data: Uint8Array;
  lookahead: Int32Array;
  tables: HuffmanTable[];
  blockDc: Int32Array;
  blockAc: Int32Array;
  componentOf: Int32Array;
  xOf: Int32Array;
  yOf: Int32Array;
  predictors: Int32Array;
  out: Uint8Array;
  outWidth: number;
  outHeight: number;
  mcusX: number;
  mcuWidth: number;
  mcuHeight: number;
  q: number;
  restarts: number[];
  dataLength: number;
  restartInterval: number;
  pos: number;
  /** Bit buffer: the low `bits` bits of `acc` are unread, oldest first. */
  acc: number;
  bits: number;
  /** Where the current restart interval's data ends. */
  intervalEnd: number;
  interval: number;
  /** MCUs left before the next restart marker. */
  left: number;
}

/**
 * One row of MCUs, false if its data is not regular. A function of its own, called once per
 * row, because V8 then optimizes it as a whole, with type feedback from every path: as one
 * loop over the frame, called once per frame, it was only ever compiled on stack replacement
 * in the middle of its first run, without feedback for the code after the loop, and deoptimized
 * there at the end of every frame. The bit reader's state lives in local variables, and each
 * step is one table lookup: this loop is the whole cost, once per Huffman code or two.
 */
function decodeMcuRow(reader: ScanReader, my: number): boolean {
  const { data, lookahead, tables, blockDc, blockAc, componentOf, xOf, yOf, predictors, out } = reader;
  const { outWidth, outHeight, mcusX, mcuWidth, mcuHeight, q, restarts, dataLength, restartInterval } = reader;
  const blocks = blockDc.length;
  // Arithmetic truncated with `| 0`: the compiler then keeps everything in 32-bit registers,
  // with no overflow checks. The lookahead's width is written out below as 12 (LOOKAHEAD) and
  // 4095 (LOOKAHEAD_MASK): V8 loads a module constant from memory at every use, and a local
  // one ends up spilled to the stack, while a literal is an immediate operand.
  let { pos, acc, bits, intervalEnd, interval, left } = reader;
  for (let mx = 0; mx < mcusX; mx++) {
    if (restartInterval && left-- === 0) {
      // The interval's data must end in the byte before its RSTn: not short of it (extra
      // data), not past it (libjpeg would have read zeros in place of the marker).
      if (((pos << 3) - bits + 7) >> 3 !== intervalEnd) return false;
      pos = intervalEnd;
      intervalEnd = ++interval < restarts.length ? restarts[interval]! : dataLength;
      acc = bits = 0;
      predictors.fill(0);
      left = restartInterval - 1;
    }
    // Beyond the reader's look-ahead: corrupt data decoding zeros.
    if (pos > intervalEnd + 4) return false;
    for (let b = 0; b < blocks; b++) {
      // Refills keep 25 to 32 bits: one step uses at most MAX_STEP_BITS (24), so three bytes
      // always suffice.
      while (bits < 25) {
        acc = (acc << 8) | data[pos]!;
        pos = (pos + 1) | 0;
        bits = (bits + 8) | 0;
      }
      let entry = lookahead[((blockDc[b]! << 12) + ((acc >>> (bits - 12)) & 4095)) | 0]!;
      if (entry === 0) {
        entry = slowCode(tables[blockDc[b]!]!, (acc >>> (bits - 16)) & 0xffff);
        if (entry < 0) return false;
        bits = (bits - (entry & 31)) | 0;
        entry &= ~31;
        while (bits < 25) {
          acc = (acc << 8) | data[pos]!;
          pos = (pos + 1) | 0;
          bits = (bits + 8) | 0;
        }
      }
      bits = (bits - (entry & 31)) | 0;
      const size = entry >> 5;
      const c = componentOf[b]!;
      if (size) {
        const raw = (acc >>> (bits - size)) & ((1 << size) - 1);
        bits = (bits - size) | 0;
        predictors[c] = (predictors[c]! + (raw < 1 << (size - 1) ? raw - (1 << size) + 1 : raw)) | 0;
      }
      const base = blockAc[b]! << 12;
      for (let k = 1; k < 64; ) {
        while (bits < 25) {
          acc = (acc << 8) | data[pos]!;
          pos = (pos + 1) | 0;
          bits = (bits + 8) | 0;
        }
        entry = lookahead[(base + ((acc >>> (bits - 12)) & 4095)) | 0]!;
        if (entry === 0) {
          // A long code: its length now, then (after a refill) its value's size, as an entry
          // of one code (a prefix of 0 is always taken).
          const code = slowCode(tables[blockAc[b]!]!, (acc >>> (bits - 16)) & 0xffff);
          if (code < 0) return false;
          const length = code & 31;
          entry = acEntry(length, code >> 5) - length;
          bits = (bits - length) | 0;
          while (bits < 25) {
            acc = (acc << 8) | data[pos]!;
            pos = (pos + 1) | 0;
            bits = (bits + 8) | 0;
          }
        }
        if (((k + ((entry >> 12) & 63)) | 0) < 64) {
          bits = (bits - (entry & 31)) | 0;
          k = (k + ((entry >> 5) & 127)) | 0;
        } else {
          // The run would go past the block's end: its first code alone.
          bits = (bits - ((entry >> 18) & 31)) | 0;
          k = (k + (entry >> 23)) | 0;
        }
      }
      const bx = xOf[b]!;
      if (bx >= 0) {
        const x = mx * mcuWidth + bx;
        const y = my * mcuHeight + yOf[b]!;
        if (x < outWidth && y < outHeight) {
          // jpeg_idct_1x1: dequantize, descale by 8 with rounding, centre on 128.
          const level = ((predictors[c]! * q + 4) >> 3) + 128;
          out[y * outWidth + x] = level < 0 ? 0 : level > 255 ? 255 : level;
        }
      }
    }
  }
  reader.pos = pos;
  reader.acc = acc;
  reader.bits = bits;
  reader.intervalEnd = intervalEnd;
  reader.interval = interval;
  reader.left = left;
  return true;
}
