/**
 * The one retry loop: a body tried up to `attempts` times, `delayMs` apart,
 * again after an error the caller names as passing (an admission webhook
 * not answering yet, an expired join token) or a result that is not final
 * yet (a URL that does not answer 200 yet).
 */
export interface RetryOptions<T> {
  attempts: number;
  delayMs: number;
  /** A thrown error worth another attempt. @default none: every error is final */
  retryOn?(error: unknown): boolean;
  /** A result worth another attempt; the last attempt's result is returned whatever it is. @default none */
  retryIf?(value: T): boolean;
  /** Called before each attempt after the first, with the error that caused it, if any. */
  onRetry?(attempt: number, error?: unknown): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function retry<T>(body: (attempt: number) => Promise<T>, options: RetryOptions<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let failure: { error: unknown } | undefined;
    try {
      const value = await body(attempt);
      if (attempt >= options.attempts || !options.retryIf?.(value)) return value;
    } catch (error) {
      if (attempt >= options.attempts || !options.retryOn?.(error)) throw error;
      failure = { error };
    }
    if (options.delayMs > 0) await sleep(options.delayMs);
    options.onRetry?.(attempt + 1, failure?.error);
  }
}
