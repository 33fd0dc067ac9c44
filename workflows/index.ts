// The workflow bundle's entry: every workflow type the worker registers.
export { batchWorkflow } from './batch';
export { itemWorkflow } from './item';
export { pageWorkflow } from './page';
