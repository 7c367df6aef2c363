import { formatReference, withDefaultTag } from '../oci/reference.ts';
import { plainDescriptor, type Descriptor } from '../oci/schema.ts';
import type { Target } from '../oci/store.ts';
import { openReference, type OpenTargetOptions } from '../registry/open-target.ts';

/** What `kart sign REF` and `kart verify REF` work on: the store REF is in, and what REF names there. */
export interface OpenedSubject {
  target: Target;
  /** the manifest or index REF resolves to (tag, default `latest`, or digest), as a plain descriptor */
  subject: Descriptor;
  /** REF written out in full */
  reference: string;
}

/** Opens REF's store, resolves REF, runs `use`, and closes the store whatever `use` does. */
export async function withOpenedSubject<T>(
  reference: string,
  options: OpenTargetOptions,
  use: (opened: OpenedSubject) => Promise<T>,
): Promise<T> {
  const opened = await openReference(reference, options);
  try {
    const full = withDefaultTag(opened.reference);
    const resolved = await opened.target.resolve(full.digest ?? full.tag!);
    return await use({
      target: opened.target,
      subject: plainDescriptor(resolved),
      reference: formatReference(full),
    });
  } finally {
    await opened.close();
  }
}
