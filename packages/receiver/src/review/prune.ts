import { SurveillanceError } from '@surveillance/shared';

// Placeholder until the review commands land (issue 4).
export async function run(_argv: string[]): Promise<number> {
  throw new SurveillanceError('usage', 'prune is not available yet');
}
