// An estimator for the length of one test body, closed however the body ends.
import { createEstimator, type LotusEstimator } from '../../lib/index';

export async function withEstimator<T>(model: string, options: Parameters<typeof createEstimator>[1], body: (e: LotusEstimator) => Promise<T>): Promise<T> {
  const estimator = await createEstimator(model, options);
  try {
    return await body(estimator);
  } finally {
    await estimator.close();
  }
}
