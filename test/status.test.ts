/**
 * `status`'s verdict on a rollout, from the object's status as the API server reports it: rolled out only
 * when the controller has seen the newest spec and every wanted pod is both updated and available.
 */
import { rollout } from '../hosts/cluster/status';

const deployment = (status: Record<string, number>, generation = 2, replicas = 3) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tomcat6', namespace: 'default', generation }, spec: { replicas }, status,
});
const daemonSet = (status: Record<string, number>) => ({
  apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'traefik', namespace: 'traefik', generation: 1 }, spec: {}, status: { observedGeneration: 1, ...status },
});

describe('a rollout is healthy only when every wanted pod is updated AND available', () => {
  test.each([
    ['all updated and available', deployment({ observedGeneration: 2, updatedReplicas: 3, availableReplicas: 3 }), true, '3/3 ready'],
    ['updated, not yet available (new pods starting)', deployment({ observedGeneration: 2, updatedReplicas: 3, availableReplicas: 1 }), false, '1/3 ready, 3/3 updated'],
    ['available, not yet updated (old pods still serving)', deployment({ observedGeneration: 2, updatedReplicas: 1, availableReplicas: 3 }), false, '3/3 ready, 1/3 updated'],
    ['the newest spec not yet seen by the controller', deployment({ observedGeneration: 1, updatedReplicas: 3, availableReplicas: 3 }), false, '3/3 ready, 3/3 updated, newer spec not yet seen'],
    ['a DaemonSet on every node', daemonSet({ desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 }), true, '2/2 ready'],
    ['a DaemonSet updated but one pod not available', daemonSet({ desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1 }), false, '1/2 ready, 2/2 updated'],
    ['a DaemonSet available but one pod not updated', daemonSet({ desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 2 }), false, '2/2 ready, 1/2 updated'],
  ])('%s', (_name, object, ok, text) => {
    expect(rollout(object)).toEqual({ ok, text });
  });

  test('a workload that is not there is missing', () => {
    expect(rollout(undefined)).toEqual({ ok: false, text: 'missing' });
  });
});
