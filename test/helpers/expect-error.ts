import { expect } from 'vitest';
import { LotusError } from '../../lib/errors';

type ErrorClass = new (...args: never[]) => LotusError;

/** Awaits `action`, which must fail with `Class` (and `parameter`, and a message matching `message`). */
export async function expectLotusError(
  action: Promise<unknown> | (() => unknown),
  Class: ErrorClass,
  details: { parameter?: string; message?: RegExp } = {},
): Promise<LotusError> {
  let caught: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected the call to fail').toBeInstanceOf(Class);
  const error = caught as LotusError & { parameter?: string };
  if (details.parameter !== undefined) expect(error.parameter).toBe(details.parameter);
  if (details.message) expect(error.message).toMatch(details.message);
  if (details.parameter !== undefined) expect(error.message).toContain(details.parameter);
  return error;
}
