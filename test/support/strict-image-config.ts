/**
 * An image config reader as strict as krata's: oci-spec-rs 0.6.8 `ImageConfiguration` deserialized
 * with serde (youki-dev/oci-spec-rs@v0.6.8 src/image/config.rs). A field without `#[serde(default)]`
 * that is not an `Option` must be present; an `Option` may be absent or null; unknown keys are
 * ignored (no deny_unknown_fields). The container-level `Default` derive and the builder's `default`
 * do not make serde fill in a missing key, which is why `history` is required there:
 *
 *   ImageConfiguration: architecture: Arch (string), os: Os (string), rootfs: RootFs, history: Vec<History>
 *                       created, author, os.version, variant: Option<String>; os.features: Option<Vec<String>>;
 *                       config: Option<Config>
 *   RootFs:             type: String, diff_ids: Vec<String>            (both required)
 *   History:            created, author, created_by, comment: Option<String>; empty_layer: Option<bool>
 *   Config (PascalCase): User, WorkingDir, StopSignal: Option<String>; Env, Entrypoint, Cmd:
 *                       Option<Vec<String>>; Labels: Option<HashMap<String,String>>; ExposedPorts,
 *                       Volumes: Option<map> (Go's map[string]struct{})
 */
import { z } from 'zod';

const optional = <T extends z.ZodType>(schema: T) => schema.nullable().optional();
const strings = z.array(z.string());

const History = z.object({
  created: optional(z.string()),
  author: optional(z.string()),
  created_by: optional(z.string()),
  comment: optional(z.string()),
  empty_layer: optional(z.boolean()),
});

const Config = z.object({
  User: optional(z.string()),
  ExposedPorts: optional(z.record(z.string(), z.unknown())),
  Env: optional(strings),
  Entrypoint: optional(strings),
  Cmd: optional(strings),
  Volumes: optional(z.record(z.string(), z.unknown())),
  WorkingDir: optional(z.string()),
  Labels: optional(z.record(z.string(), z.string())),
  StopSignal: optional(z.string()),
});

const ImageConfiguration = z.object({
  created: optional(z.string()),
  author: optional(z.string()),
  architecture: z.string(),
  os: z.string(),
  'os.version': optional(z.string()),
  'os.features': optional(strings),
  variant: optional(z.string()),
  config: optional(Config),
  rootfs: z.object({ type: z.string(), diff_ids: strings }),
  history: z.array(History),
});

export type StrictImageConfiguration = z.infer<typeof ImageConfiguration>;

/** Parses like krata would; throws naming the first field serde would have refused. */
export function readStrictImageConfig(bytes: Buffer | string): StrictImageConfiguration {
  const result = ImageConfiguration.safeParse(JSON.parse(bytes.toString()));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`oci-spec 0.6.8 would refuse this config: ${issue.path.join('.')}: ${issue.message}`);
  }
  return result.data;
}
