// Finds or installs the Temporal CLI the way durabatch does at run time, and says which route won.
import path from 'node:path';
import { findTemporalCli } from '../src/server/provision';

const home = path.resolve(process.env.DURABATCH_HOME ?? '.durabatch');
const found = await findTemporalCli({ home, log: (m) => console.log(m) });
console.log(`temporal ${found.version ?? '?'} via ${found.route}: ${found.path}`);
