/**
 * `npm run bench`: speed figures, printed, never asserted.
 *   synth          npm run synth against the cdk8s template's default runner
 *   orchestration  bootstrap of N simulated nodes against its ideal schedule
 * `npm run bench -- orchestration` runs one of them.
 */
import { benchOrchestration } from './orchestration';
import { benchSynth } from './synth';

void (async () => {
  const only = process.argv[2];
  if (!only || only === 'synth') console.log(benchSynth());
  if (!only || only === 'orchestration') for (const line of await benchOrchestration()) console.log(line);
})();
