// What a batch flag is (./batch-flags.ts holds the table): the setting it sets, as a dotted path the
// compiler checks against Config, how its text is parsed, and its help. Type-only: `durabatch
// --help` loads no zod.
import type { Config } from '../config/schema';

/** Settings groups: their fields are set one by one (`http.url`), not as one object. */
type Group = 'http' | 'command' | 'module' | 'logLevels' | 'allow' | 'api';

/** Every setting, as the dotted path of a Config field: `concurrency`, `http.url`. */
export type SettingPath = {
  [K in keyof Config]-?: K extends Group ? `${K}.${Extract<keyof NonNullable<Config[K]>, string>}` : K;
}[keyof Config];

/** How a flag's text becomes the setting's value (errors name the flag); none: the schema parses it. */
export type FlagParser = 'duration' | 'headers' | 'jsonOrFile';

export interface FlagSpec {
  /** The setting; a list names the same field of each processor, and the batch's processor gets it. */
  field: SettingPath | readonly SettingPath[];
  /** Placeholder of the value in help (`<n>`); none: a switch. */
  arg?: string;
  /** Given several times (`--header a --header b`), the values form a list. */
  repeat?: true;
  parse?: FlagParser;
  help: string;
  /** retry-failed takes it too, with this help text (`true`: the same one). */
  retry?: string | true;
}
