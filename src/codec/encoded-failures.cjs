// The failure converter used wherever the payload codec is on (clients, workers, and the workflow
// bundle built for them): a failure's message and stack trace become a payload, which the codec
// encrypts like any other. Without it, failures are not payloads: item errors (URLs with item data,
// a target's answer, a command's stderr) would be stored in clear in history. Plain CommonJS: the
// SDK require()s it by path in the worker (whatever runs the CLI) and bundles it into the workflows.
// Untyped CommonJS, hence:
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-assignment,
   @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument */
/* global require, exports */
const { DefaultFailureConverter } = require('@temporalio/common');

const plain = new DefaultFailureConverter();

/** A payload this process cannot decrypt (src/codec/aes-gcm.ts CodecKeyError), anywhere in the chain. */
function isKeyError(err) {
  for (let e = err, depth = 0; e && depth < 10; e = e.cause, depth += 1) {
    if (e.name === 'CodecKeyError') return true;
  }
  return false;
}

class EncodedFailureConverter extends DefaultFailureConverter {
  constructor() {
    super({ encodeCommonAttributes: true });
  }

  // A wrong key is reported in clear: whoever reads it has not the right key, and it holds only a
  // key id and the settings to fix (no item data).
  errorToFailure(err, payloadConverter, context) {
    if (isKeyError(err)) return plain.errorToFailure(err, payloadConverter, context);
    return super.errorToFailure(err, payloadConverter, context);
  }
}

exports.failureConverter = new EncodedFailureConverter();
