//! Evaluation order: a depth-first topological sort of the dependency graph that also reports
//! every cycle (`local.a → local.b → local.a`) instead of looping or giving up.

use std::collections::BTreeMap;

/// Orders `nodes` so that every node comes after its dependencies. Returns the order and the
/// cycles found (each as the path that closes on itself). Nodes on a cycle still appear in the
/// order; the caller decides what to do with them. Iterative, so deep chains cannot overflow the
/// stack.
pub(crate) fn topological<N: Copy + Ord>(
    nodes: &[N],
    deps: &BTreeMap<N, Vec<N>>,
) -> (Vec<N>, Vec<Vec<N>>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<N, Mark> = BTreeMap::new();
    let mut order = Vec::with_capacity(nodes.len());
    let mut cycles = Vec::new();
    let none = Vec::new();
    for &root in nodes {
        if marks.contains_key(&root) {
            continue;
        }
        marks.insert(root, Mark::Visiting);
        let mut stack: Vec<(N, usize)> = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            let node_deps = deps.get(&node).unwrap_or(&none);
            if next < node_deps.len() {
                top.1 += 1;
                let dep = node_deps[next];
                match marks.get(&dep) {
                    None => {
                        marks.insert(dep, Mark::Visiting);
                        stack.push((dep, 0));
                    }
                    Some(Mark::Visiting) => {
                        let start = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<N> = stack[start..].iter().map(|(n, _)| *n).collect();
                        cycle.push(dep);
                        cycles.push(cycle);
                    }
                    Some(Mark::Done) => {}
                }
            } else {
                stack.pop();
                marks.insert(node, Mark::Done);
                order.push(node);
            }
        }
    }
    (order, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first() {
        let deps = BTreeMap::from([(1, vec![2, 3]), (2, vec![3]), (4, vec![])]);
        let (order, cycles) = topological(&[1, 2, 3, 4], &deps);
        assert_eq!(order, [3, 2, 1, 4]);
        assert!(cycles.is_empty());
    }

    #[test]
    fn cycles_are_reported_as_paths() {
        let deps = BTreeMap::from([(1, vec![2]), (2, vec![3]), (3, vec![1]), (4, vec![4])]);
        let (order, cycles) = topological(&[1, 4], &deps);
        assert_eq!(order.len(), 4);
        assert_eq!(cycles, vec![vec![1, 2, 3, 1], vec![4, 4]]);
    }

    #[test]
    fn deep_chains_do_not_recurse() {
        let n = 100_000;
        let deps: BTreeMap<u32, Vec<u32>> = (0..n).map(|i| (i, vec![i + 1])).collect();
        let (order, _) = topological(&[0], &deps);
        assert_eq!(order.len() as u32, n + 1);
        assert_eq!(order[0], n);
    }
}
