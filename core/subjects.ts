/**
 * Every NATS subject and JetStream KV bucket the core uses, defined once.
 *
 * Subjects
 *   hive.act.<service>.<Action>   request/reply, queue group `hive.act`: exactly one node that serves
 *                                 <service>:<Action> handles each request. <service> is the AWS signing
 *                                 name of the model (ec2, ssm, s3 …), <Action> the model's operation name.
 *                                 Request body: BusRequest, reply body: BusReply (both JSON, see bus.ts).
 *   hive.all.<service>.<Action>   request/reply without queue group: every node that serves the action
 *                                 answers (fan-out describes); the caller gathers the replies.
 *   hive.node.<nodeId>.<name>    request/reply to one node: a capability's traffic between its nodes
 *                                 (`s3.shard.put`, `s3.shard.get` …). Body: raw bytes; NATS headers
 *                                 carry string arguments, and `hive-error` in a reply carries a failure.
 *                                 The capability documents each <name> beside its handler.
 *   hive.int.<name>              request/reply, queue group `hive.act`: a capability's internal API for
 *                                 other capabilities (`s3.object.put` …), same message form as
 *                                 hive.node.*; one node that serves <name> answers. The core's own:
 *                                 `tags.exists.<prefix>` (tags.ts).
 *   _INBOX.<nuid>.<token>        where replies to one Requester's requests arrive (requester.ts): one
 *                                 subscription for the bus and one for the KV store of each node,
 *                                 <token> names the pending request (base-36 counter).
 *   $KV.<bucket>.<key>, $JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>   JetStream's own: KV
 *                                 writes and reads, requested directly (kv.ts says how).
 *   NATS answers 503 "no responders" when nobody subscribes: the bus turns that into an AwsError
 *   naming the capability that is missing.
 *
 * KV buckets (JetStream, one stream each; keys use [A-Za-z0-9_=/.-], dots for hierarchy)
 *   hive_nodes      <nodeId> → NodeRecord (nodes.ts). Each node's heartbeat; entries expire after
 *                   NODE_TTL_MS, so the bucket lists the live nodes and what each serves.
 *   hive_capabilities   <capability> → CapabilityRecord (nodes.ts): the actions a capability serves,
 *                   written by every node that enables it and never expired, so any node can name
 *                   the capability a request needs after the last node serving it is gone.
 *   hive_cluster    `identity` → ClusterIdentity (config.ts): the account and root key every node
 *                   shares; the first node writes it, every later one adopts it.
 *   hive_tags       <accountId>.<resourceId> → the EC2 tags of any capability's resource (tags.ts).
 *   hive_<cap>_<resource>   a capability's own control-plane state; each plugin names its buckets
 *                   with kvBucketName() and documents their keys beside its code.
 */
export const ACTION_QUEUE = 'hive.act'

export function actionSubject (service: string, action: string): string {
  return `hive.act.${service}.${action}`
}

export function gatherSubject (service: string, action: string): string {
  return `hive.all.${service}.${action}`
}

export function nodeSubject (nodeId: string, name: string): string {
  return `hive.node.${nodeId}.${name}`
}

export function internalSubject (name: string): string {
  return `hive.int.${name}`
}

export const NODES_BUCKET = 'hive_nodes'
export const CLUSTER_BUCKET = 'hive_cluster'
export const CAPABILITIES_BUCKET = 'hive_capabilities'
export const TAGS_BUCKET = 'hive_tags'
export const NODE_HEARTBEAT_MS = 5_000
export const NODE_TTL_MS = 15_000

/** `kvBucketName('ssm', 'parameters')` → `hive_ssm_parameters`. */
export function kvBucketName (capability: string, resource: string): string {
  const name = `hive_${capability}_${resource}`
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`invalid KV bucket name ${name}`)
  return name
}
