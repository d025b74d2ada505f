//! Instance types: named sizes with AWS's vCPU count, memory and on-demand hourly price
//! (us-east-1, Linux). Locally a type becomes a CPU quota and a memory limit; the price feeds
//! cost reports.

use serde::Serialize;

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InstanceType {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// On-demand price in USD per hour (us-east-1, Linux).
    pub price_per_hour: f64,
}

macro_rules! catalogue {
    ($($name:literal => $vcpus:literal, $mem:literal, $price:literal;)*) => {
        /// Every instance type updraft knows, smallest first within a family.
        pub const CATALOGUE: &[InstanceType] = &[
            $(InstanceType { name: $name, vcpus: $vcpus, memory_mib: $mem, price_per_hour: $price },)*
        ];
    };
}

catalogue! {
    "t2.nano" => 1, 512, 0.0058;
    "t2.micro" => 1, 1024, 0.0116;
    "t2.small" => 1, 2048, 0.023;
    "t2.medium" => 2, 4096, 0.0464;
    "t2.large" => 2, 8192, 0.0928;
    "t3.nano" => 2, 512, 0.0052;
    "t3.micro" => 2, 1024, 0.0104;
    "t3.small" => 2, 2048, 0.0208;
    "t3.medium" => 2, 4096, 0.0416;
    "t3.large" => 2, 8192, 0.0832;
    "t3.xlarge" => 4, 16384, 0.1664;
    "t3a.micro" => 2, 1024, 0.0094;
    "t3a.small" => 2, 2048, 0.0188;
    "t3a.medium" => 2, 4096, 0.0376;
    "t4g.micro" => 2, 1024, 0.0084;
    "t4g.small" => 2, 2048, 0.0168;
    "t4g.medium" => 2, 4096, 0.0336;
    "m5.large" => 2, 8192, 0.096;
    "m5.xlarge" => 4, 16384, 0.192;
    "m5.2xlarge" => 8, 32768, 0.384;
    "m6i.large" => 2, 8192, 0.096;
    "m6i.xlarge" => 4, 16384, 0.192;
    "m7g.large" => 2, 8192, 0.0816;
    "c5.large" => 2, 4096, 0.085;
    "c5.xlarge" => 4, 8192, 0.17;
    "c5.2xlarge" => 8, 16384, 0.34;
    "c6i.large" => 2, 4096, 0.085;
    "c7g.large" => 2, 4096, 0.0725;
    "r5.large" => 2, 16384, 0.126;
    "r6i.large" => 2, 16384, 0.126;
}

impl InstanceType {
    /// Looks a type up by its AWS name.
    pub fn lookup(name: &str) -> Option<InstanceType> {
        CATALOGUE.iter().copied().find(|t| t.name == name)
    }

    /// The catalogue names closest to `name` (same family first), for "did you mean" hints.
    pub fn suggestions(name: &str) -> Vec<&'static str> {
        let family = name.split('.').next().unwrap_or(name);
        let same_family: Vec<_> = CATALOGUE
            .iter()
            .filter(|t| t.name.split('.').next() == Some(family))
            .map(|t| t.name)
            .collect();
        if same_family.is_empty() {
            vec!["t3.micro", "t3.small", "m5.large", "c5.large"]
        } else {
            same_family
        }
    }

    /// Local CPU this type may use, in millicores, given how many local millicores one AWS vCPU
    /// is worth. Never below 10 millicores so that a process can always make progress.
    pub fn local_millicores(&self, millicores_per_vcpu: u32) -> u32 {
        (self.vcpus * millicores_per_vcpu).max(10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_suggestions() {
        let t = InstanceType::lookup("t3.micro").unwrap();
        assert_eq!((t.vcpus, t.memory_mib), (2, 1024));
        assert!(InstanceType::lookup("t3.mikro").is_none());
        assert!(InstanceType::suggestions("t3.mikro").contains(&"t3.micro"));
        assert!(InstanceType::suggestions("zz9.huge").contains(&"t3.micro"));
    }

    #[test]
    fn a_dozen_micro_instances_fit_on_two_cores_at_the_default_scale() {
        let t = InstanceType::lookup("t3.micro").unwrap();
        assert!(12 * t.local_millicores(80) <= 2000);
    }
}
