import { SurveillanceError } from '@surveillance/shared';

// Placeholder until the web gallery lands (issue 4).
export async function run(_argv: string[]): Promise<number> {
  throw new SurveillanceError('usage', 'serve is not available yet');
}
