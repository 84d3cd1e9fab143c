//! One metric family as the catalogue lists it: name, type, labels and its
//! `# HELP` text. Each module that records metrics keeps its families in
//! one table (`FAMILIES`); the recorder is given their descriptions from
//! it, the families written at scrape time take their help from it, and
//! the reference in `docs/metrics.md` is generated from all of them
//! (`ops::metrics::reference`), so the three cannot drift apart.

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Recorded with `histogram!`, exported with buckets (the metric was
    /// given some when the recorder was installed).
    Histogram,
    /// Recorded with `histogram!`, exported as quantiles (no buckets).
    Summary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn of(
    kind: Kind,
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
    }
}

pub const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    of(Kind::Counter, name, labels, help)
}

pub const fn gauge(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    of(Kind::Gauge, name, labels, help)
}

pub const fn histogram(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    of(Kind::Histogram, name, labels, help)
}

pub const fn summary(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    of(Kind::Summary, name, labels, help)
}

/// Gives the recorder the `# HELP` text of each family (the Prometheus
/// exporter prints a description only for described metrics).
pub fn describe(families: &[Family]) {
    for f in families {
        match f.kind {
            Kind::Counter => metrics::describe_counter!(f.name, f.help),
            Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
            Kind::Histogram | Kind::Summary => metrics::describe_histogram!(f.name, f.help),
        }
    }
}
