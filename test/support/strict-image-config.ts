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
import {
  array,
  boolean,
  checkShape,
  nullable,
  object,
  optional as absent,
  record,
  string,
  unknownValue,
  type Infer,
  type Shape,
} from '../../src/oci/json-shape.ts';

const optional = <T>(shape: Shape<T>) => absent(nullable(shape));
const strings = array(string());

const History = object({
  created: optional(string()),
  author: optional(string()),
  created_by: optional(string()),
  comment: optional(string()),
  empty_layer: optional(boolean()),
});

const Config = object({
  User: optional(string()),
  ExposedPorts: optional(record(unknownValue())),
  Env: optional(strings),
  Entrypoint: optional(strings),
  Cmd: optional(strings),
  Volumes: optional(record(unknownValue())),
  WorkingDir: optional(string()),
  Labels: optional(record(string())),
  StopSignal: optional(string()),
});

const ImageConfiguration = object({
  created: optional(string()),
  author: optional(string()),
  architecture: string(),
  os: string(),
  'os.version': optional(string()),
  'os.features': optional(strings),
  variant: optional(string()),
  config: optional(Config),
  rootfs: object({ type: string(), diff_ids: strings }),
  history: array(History),
});

export type StrictImageConfiguration = Infer<typeof ImageConfiguration>;

/** Parses like krata would; throws naming the first field serde would have refused. */
export function readStrictImageConfig(bytes: Buffer | string): StrictImageConfiguration {
  const result = checkShape(ImageConfiguration, JSON.parse(bytes.toString()));
  if (!result.ok) {
    const { path, reason } = result.mismatch;
    throw new Error(`oci-spec 0.6.8 would refuse this config: ${path.join('.')}: ${reason}`);
  }
  return result.value;
}
