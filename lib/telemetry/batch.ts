import { newId } from '../ids';
import type { WorkerRegistry } from '../registry/registry';
import type { EventClaims } from './event-claims';
import type { ReplicaWait } from './replica-wait';
import { GUARDED_METHODS, SINGLE_WRITE_METHODS, type Method } from './methods';
import type { CallContext, RedisTelemetryService } from './service';
import type { TelemetryCall } from './validate';

export interface BatchResult {
  /** Methods of the calls applied by this request, in order (not those applied before). */
  applied: Method[];
  /** Calls skipped: their id was applied before (a retried or raced copy). */
  repeated: number;
}

type Apply = (args: unknown, ctx: CallContext) => Promise<void>;

/**
 * Applies one SFU node's batch of calls, already decoded and checked whole: in order,
 * each event's effects stored before the next starts, and each event id once. Ids are
 * claimed before anything is applied, so a copy of the batch raced on another node waits
 * for this one's outcome; webhook and analytics ids come from the event ids, so a batch
 * applied again after a crash between applying and recording queues the same webhooks.
 * With `replicas` (REDIS_WAIT_REPLICAS), a batch resolves only once replicas hold its
 * writes, so a failover right after cannot lose what was acknowledged; its ids are recorded
 * as applied only then. If the replicas do not hold them in time, it fails retryable with
 * its ids released, and the retry applies it again (same webhook ids; stats and analytics
 * appended again, as after a crash) and waits for them once more.
 */
export class BatchApplier {
  constructor(
    private readonly service: RedisTelemetryService,
    private readonly registry: WorkerRegistry,
    private readonly claims: EventClaims,
    private readonly replicas?: ReplicaWait,
  ) {}

  async apply(nodeId: string, calls: TelemetryCall[]): Promise<BatchResult> {
    const ids = [...new Set(calls.map((c) => c.id).filter((id): id is string => !!id))];
    const token = newId('RQ_');
    const [states] = await Promise.all([
      ids.length > 0 ? this.claims.claim(nodeId, ids, token) : Promise.resolve([] as boolean[]),
      // any call from an SFU node renews its lease
      this.registry.heartbeat(nodeId),
    ]);
    const claimed = ids.filter((_, i) => states[i]);
    const toApply = new Set(claimed);
    const applied: Method[] = [];
    let repeated = 0;
    try {
      await this.claims.holding(nodeId, claimed, token, async () => {
        await this.applyInOrder(nodeId, calls, toApply, applied, () => repeated++);
        // Ids are recorded as applied only once replicas hold the effects. On a cluster the
        // ids live on their SFU node's slot, often another master than the effects': recorded
        // before the WAIT failed, they survived a crash of the effects' master that lost the
        // effects, and the retry was a no-op acknowledged 200 (a participantActive lost).
        // Also when nothing was claimed: a batch without ids, or a retry whose ids a copy recorded.
        await this.replicas?.confirm();
      });
    } catch (e) {
      // nothing is recorded as applied: a retry applies the batch again, under the same ids
      // (a batch answered 503 for want of replicas too: its effects may not survive the master)
      await this.claims.release(nodeId, claimed, token).catch(() => {});
      throw e;
    }
    await this.claims.done(nodeId, claimed, token);
    return { applied, repeated };
  }

  /**
   * A run of single-write calls (stats, track analytics) is sent together, since their
   * writes leave in call order, and completes before the next call starts.
   */
  private async applyInOrder(nodeId: string, calls: TelemetryCall[], toApply: Set<string>, applied: Method[], skip: () => void): Promise<void> {
    const service = this.service as unknown as Record<Method, Apply>;
    const run: Promise<void>[] = [];
    for (const call of calls) {
      if (call.id) {
        // applied before, or an earlier copy of it in this very batch
        if (!toApply.has(call.id)) { skip(); continue; }
        toApply.delete(call.id);
      }
      const args = GUARDED_METHODS.has(call.method) && call.args.guard ? { ...call.args, nodeId } : call.args;
      const ctx: CallContext = { validated: true, seed: call.id ? `${nodeId}|${call.id}` : undefined };
      applied.push(call.method);
      if (SINGLE_WRITE_METHODS.has(call.method)) {
        run.push(service[call.method].call(this.service, args, ctx));
        continue;
      }
      if (run.length > 0) await settle(run.splice(0));
      await service[call.method].call(this.service, args, ctx);
    }
    await settle(run);
  }
}

/** Waits for every call of a run, then fails with the first failure (none is left unobserved). */
async function settle(run: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(run)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
