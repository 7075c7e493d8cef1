import { checkCameraName, checkFrameId } from '@surveillance/shared';
import { frameName, parseFrameName, type ParsedName } from '../frame-name.ts';

/**
 * Reads a frame name that arrived in a URL. Only a name the receiver itself could have written
 * is accepted: it must parse, and writing it again from its camera, time and id must give back
 * exactly the same text. What reaches the file system is that rewritten name, never the
 * request's text, so `..`, encoded slashes, hidden folders and absolute paths cannot get
 * through. Undefined for anything else.
 */
export function readFrameName(raw: string, pattern: string): (ParsedName & { name: string }) | undefined {
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  const parsed = parseFrameName(text, pattern);
  if (!parsed || checkCameraName(parsed.camera) !== undefined || checkFrameId(parsed.id) !== undefined) return undefined;
  const name = frameName(parsed.camera, parsed.time, parsed.id, pattern);
  return name === text ? { ...parsed, name } : undefined;
}
