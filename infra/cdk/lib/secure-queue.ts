import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * Properties of {@link SecureQueue}.
 */
export interface SecureQueueProps {
  /** The customer-managed key the queue is encrypted with. */
  readonly key: kms.IKey;
  /** How long a message is kept. */
  readonly retention: Duration;
  /** What happens to the queue when it leaves the stack. */
  readonly removalPolicy: RemovalPolicy;
  /**
   * The only queue allowed to name this one as its dead-letter queue.
   * @default - no queue may (the redrive-allow policy denies all)
   */
  readonly deadLetterSource?: sqs.IQueue;
}

/**
 * An SQS queue as Floodgate keeps its dead letters, overflow and failed invocations:
 * encrypted with a customer-managed key, reachable only over TLS (a queue policy denies
 * every request without `aws:SecureTransport`), and a dead-letter target for its one source
 * queue or for none. Access is granted to roles by their own policies, never by this queue's.
 */
export class SecureQueue extends Construct {
  /** The queue. */
  public readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string, props: SecureQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: props.retention,
      removalPolicy: props.removalPolicy,
      redriveAllowPolicy:
        props.deadLetterSource === undefined
          ? { redrivePermission: sqs.RedrivePermission.DENY_ALL }
          : { redrivePermission: sqs.RedrivePermission.BY_QUEUE, sourceQueues: [props.deadLetterSource] },
    });
  }
}
