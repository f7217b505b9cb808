// One hook for the module-level stores (session, live mode, savepoints):
// a component re-renders whenever its store calls the listeners it keeps.

import { useEffect, useState } from 'preact/hooks';

/** Re-renders the calling component each time a listener of the set is called. */
export function useListeners(listeners: Set<() => void>): void {
  const [, force] = useState(0);
  useEffect(() => {
    const l = () => force((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, [listeners]);
}
