/**
 * The join details (a fresh token and the CA hash) the workers of one run
 * share: minted once on the control plane, minted again when the one in use
 * grows old (10 of its 15 minutes) or stops working, but only once for all
 * the joins that found it gone. Control planes also get the certificate key
 * of the certificates the first control plane uploads, once per run (kubeadm
 * keeps them 2 hours).
 */
import { controlPlane } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import { type ControlPlaneJoinDetails, type JoinDetails, mintJoinDetails, uploadCertificates } from '../node/kubeadm';

/** kubeadm's words for a token it no longer knows: "could not find a JWS signature ... for token ID" (older: "expired", "invalid"). */
export const TOKEN_GONE = /JWS signature|expired|invalid for this cluster/;
const REUSE_FOR_MS = 10 * 60_000;

export class JoinTokens {
  private current?: Promise<JoinDetails>;
  private mintedAt = 0;
  /** Which minting produced each token, to tell whether a failed token is still the current one. */
  private readonly byToken = new Map<string, Promise<JoinDetails>>();

  private certificateKey?: Promise<string>;

  constructor(private readonly config: ClusterConfig, private readonly nodeRun: (node: ClusterNode) => NodeRun) {}

  /** The details a control plane joins with: a worker's, and the certificate key (uploaded once per run). */
  async forControlPlane(replacing?: JoinDetails): Promise<ControlPlaneJoinDetails> {
    // First the upload, then the token: both run on the first control plane, one step at a time.
    this.certificateKey ??= uploadCertificates(this.nodeRun(controlPlane(this.config)), this.config);
    const certificateKey = await this.certificateKey;
    const details = await (replacing ? this.replace(replacing) : this.get());
    return { ...details, certificateKey };
  }

  /** The details to join with now. */
  get(): Promise<JoinDetails> {
    if (!this.current || Date.now() - this.mintedAt > REUSE_FOR_MS) this.mint();
    return this.current!;
  }

  /** New details after `used` stopped working (unless another join already replaced them). */
  replace(used: JoinDetails): Promise<JoinDetails> {
    if (this.current === this.byToken.get(used.token)) this.mint();
    return this.get();
  }

  private mint(): void {
    const minted = mintJoinDetails(this.nodeRun(controlPlane(this.config)), this.config);
    this.current = minted;
    this.mintedAt = Date.now();
    void minted.then((d) => this.byToken.set(d.token, minted), () => undefined);
  }
}
