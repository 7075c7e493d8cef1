#!/usr/bin/env bash
# Makes the JPEG fixtures in test/fixtures/ with real encoders (ffmpeg, cjpeg from
# libjpeg-turbo, exiftool), so that the scanner is tested against what cameras and tools
# really write. The outputs are committed; run this again only to change them.
# Needs: apt-get install ffmpeg libjpeg-turbo-progs libimage-exiftool-perl
set -euo pipefail
cd "$(dirname "$0")/../test/fixtures"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ffmpeg -loglevel error -f lavfi -i testsrc2=size=320x240:rate=1 -frames:v 1 -pix_fmt rgb24 "$tmp/src.ppm"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=160x120:rate=1 -frames:v 1 -q:v 5 "$tmp/thumb.jpg"

ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=1 -frames:v 1 -q:v 4 jpeg/ffmpeg-baseline.jpg
ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=1 -frames:v 1 -pix_fmt yuvj444p -q:v 2 jpeg/ffmpeg-444.jpg
cjpeg -quality 80 -outfile jpeg/cjpeg-baseline.jpg "$tmp/src.ppm"
cjpeg -quality 80 -progressive -outfile jpeg/cjpeg-progressive.jpg "$tmp/src.ppm"
cjpeg -quality 80 -restart 1 -outfile jpeg/cjpeg-restart.jpg "$tmp/src.ppm"
cjpeg -quality 80 -arithmetic -outfile jpeg/cjpeg-arithmetic.jpg "$tmp/src.ppm"
cjpeg -quality 80 -arithmetic -progressive -outfile jpeg/cjpeg-arithmetic-progressive.jpg "$tmp/src.ppm"
cjpeg -quality 80 -grayscale -optimize -outfile jpeg/cjpeg-grayscale.jpg "$tmp/src.ppm"

# EXIF with an embedded JPEG thumbnail: the APP1 segment holds a whole second JPEG, FF D9 and all.
cp jpeg/cjpeg-baseline.jpg jpeg/exif-thumbnail.jpg
exiftool -q -overwrite_original -Make=Surveillance -Model=Fixture \
  '-DateTimeOriginal=2026:11:21 05:53:00' '-ThumbnailImage<='"$tmp/thumb.jpg" jpeg/exif-thumbnail.jpg

# Large APP segments full of FF D9 / FF D8 pairs, and fill bytes (FF FF ...) before markers:
# both legal, both fatal to a scanner that searches for byte patterns.
node --input-type=module - <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
const base = readFileSync('jpeg/cjpeg-baseline.jpg');
const app = (n, len, fill) => {
  const seg = Buffer.alloc(len + 2, 0);
  seg[0] = 0xff; seg[1] = n; seg.writeUInt16BE(len, 2);
  for (let i = 4; i < seg.length; i += 2) { seg[i] = 0xff; seg[i + 1] = fill; }
  return seg;
};
writeFileSync('jpeg/large-app-segments.jpg', Buffer.concat([
  base.subarray(0, 2), app(0xe2, 65535, 0xd9), app(0xe3, 40000, 0xd8), base.subarray(2),
]));
// Insert 3 fill bytes before every marker that follows a segment, found by walking the segments.
const out = [base.subarray(0, 2)];
let i = 2;
while (base[i] === 0xff && base[i + 1] !== 0xda) {
  const len = base.readUInt16BE(i + 2);
  out.push(Buffer.from([0xff, 0xff, 0xff]), base.subarray(i, i + 2 + len));
  i += 2 + len;
}
out.push(Buffer.from([0xff, 0xff]), base.subarray(i));
writeFileSync('jpeg/fill-bytes.jpg', Buffer.concat(out));
JS

ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=64x48:rate=1 -frames:v 1 bad/image.png

# A decompression bomb: a real 8x8 progressive JPEG (about 550 bytes) whose SOF claims
# 16383x16383. Every decoder believes the SOF and allocates for 268 MP.
ffmpeg -loglevel error -f lavfi -i testsrc2=size=8x8:rate=1 -frames:v 1 -pix_fmt rgb24 "$tmp/bomb.ppm"
cjpeg -quality 30 -progressive -optimize -outfile "$tmp/bomb.jpg" "$tmp/bomb.ppm"
node --input-type=module - "$tmp/bomb.jpg" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
const b = readFileSync(process.argv[2]);
const sof = b.indexOf(Buffer.from([0xff, 0xc2]));
b.writeUInt16BE(16383, sof + 5); // height
b.writeUInt16BE(16383, sof + 7); // width
writeFileSync('bad/bomb-16383x16383.jpg', b);
JS
ls -l jpeg bad
