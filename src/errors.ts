// One error type for everything a user can get wrong (a file, an image, weights, an option).
// The CLI prints `message` as one line and exits non-zero; it never prints a stack for these.
export class RetinaFaceError extends Error {
  readonly file: string | undefined;
  readonly code: string;

  constructor(message: string, options: { file?: string; code?: string; cause?: unknown } = {}) {
    super(options.file !== undefined ? `${options.file}: ${message}` : message);
    this.name = 'RetinaFaceError';
    this.file = options.file;
    this.code = options.code ?? 'EINVAL';
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}
