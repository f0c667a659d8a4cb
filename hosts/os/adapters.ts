/** The adapter of each OS family. */
import type { OsAdapter } from './adapter';
import { aptAdapter } from './apt';
import { el9 } from './el9';
import type { OsFamily } from './release';

export const OS_ADAPTERS: Record<OsFamily, OsAdapter> = {
  el9,
  debian: aptAdapter('debian'),
  ubuntu: aptAdapter('ubuntu'),
};
