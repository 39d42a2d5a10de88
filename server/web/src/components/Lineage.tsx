import type { ReactNode } from 'react';
import { Link } from '../router';

export interface LineageNode {
  kind: string;
  label: ReactNode;
  to?: string;
  detail?: ReactNode;
}

/** Where something came from, top (inputs) to bottom (result), each step linking to its page. */
export function LineageChain({ nodes }: { nodes: LineageNode[] }) {
  return (
    <ol className="lineage">
      {nodes.map((n, i) => (
        <li key={i} className={`lineage-node lineage-${n.kind.toLowerCase().replace(/\s+/g, '-')}`}>
          <span className="lineage-kind">{n.kind}</span>
          <span className="lineage-label">{n.to ? <Link to={n.to}>{n.label}</Link> : n.label}</span>
          {n.detail && <span className="lineage-detail">{n.detail}</span>}
        </li>
      ))}
    </ol>
  );
}
