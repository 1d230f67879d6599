import { createHash } from 'node:crypto';

/** A webhook URL's short name in Redis keys (its hash tag, `{wu:<tag>}`). */
export function webhookUrlTag(url: string): string {
  return createHash('sha1').update(url).digest('hex').slice(0, 12);
}
