//! Is this a virtual machine or a container? Then SMART and the RAID under its disks belong to
//! the host, which the agent here cannot see.
//!
//! Read like `systemd-detect-virt` does, without running it: containers from
//! `/run/systemd/container` and `/.dockerenv`; VMs from the DMI vendor and product
//! (`/sys/class/dmi/id/sys_vendor`, `product_name`), Xen from `/sys/hypervisor/type`, and
//! otherwise the `hypervisor` CPU flag in `/proc/cpuinfo`.

use super::machine::Machine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// Bare metal, as far as can be seen.
    Physical,
    /// A virtual machine, with the hypervisor's name when known.
    Vm(String),
    /// A container (its disks are the host's).
    Container(String),
}

impl Platform {
    pub fn is_virtual(&self) -> bool {
        !matches!(self, Platform::Physical)
    }

    pub fn describe(&self) -> String {
        match self {
            Platform::Physical => "physical machine (no hypervisor seen)".into(),
            Platform::Vm(h) => format!("virtual machine ({h})"),
            Platform::Container(c) => format!("container ({c})"),
        }
    }
}

/// DMI vendor or product words and the hypervisor they name.
const DMI: [(&str, &str); 11] = [
    ("QEMU", "KVM/QEMU"),
    ("KVM", "KVM/QEMU"),
    ("VMware", "VMware"),
    ("VirtualBox", "VirtualBox"),
    ("innotek", "VirtualBox"),
    ("Xen", "Xen"),
    ("Microsoft Corporation", "Hyper-V"),
    ("Amazon EC2", "Amazon EC2"),
    ("Google", "Google Compute Engine"),
    ("OpenStack", "OpenStack"),
    ("Parallels", "Parallels"),
];

pub fn detect(m: &Machine) -> Platform {
    if let Some(c) = m.read("/run/systemd/container") {
        return Platform::Container(c.trim().to_owned());
    }
    if m.exists("/.dockerenv") {
        return Platform::Container("docker".into());
    }
    let dmi = ["sys_vendor", "product_name", "board_vendor"]
        .iter()
        .filter_map(|f| m.read(format!("/sys/class/dmi/id/{f}")))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some((_, name)) = DMI.iter().find(|(word, _)| dmi.contains(word)) {
        // Hyper-V's vendor is Microsoft's, but so is a Surface: the product says which.
        if *name != "Hyper-V" || dmi.contains("Virtual Machine") {
            return Platform::Vm((*name).into());
        }
    }
    if let Some(t) = m.read("/sys/hypervisor/type") {
        return Platform::Vm(t.trim().to_owned());
    }
    let hypervisor_flag = m.read("/proc/cpuinfo").is_some_and(|c| {
        c.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|w| w == "hypervisor"))
    });
    if hypervisor_flag {
        return Platform::Vm("hypervisor CPU flag".into());
    }
    Platform::Physical
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(files: &[(&str, &str)]) -> (tempfile::TempDir, Machine) {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine::new(dir.path());
        for (p, text) in files {
            let at = m.at(p);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(at, text).unwrap();
        }
        (dir, m)
    }

    #[test]
    fn a_kvm_guest_is_named_by_its_dmi_vendor() {
        let (_d, m) = machine(&[("/sys/class/dmi/id/sys_vendor", "QEMU\n")]);
        assert_eq!(detect(&m), Platform::Vm("KVM/QEMU".into()));
    }

    #[test]
    fn the_hypervisor_cpu_flag_alone_says_vm() {
        let (_d, m) = machine(&[(
            "/proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme de pse hypervisor lahf_lm\n",
        )]);
        assert!(detect(&m).is_virtual());
    }

    #[test]
    fn a_dell_server_without_the_flag_is_physical() {
        let (_d, m) = machine(&[
            ("/sys/class/dmi/id/sys_vendor", "Dell Inc.\n"),
            ("/sys/class/dmi/id/product_name", "PowerEdge R740\n"),
            ("/proc/cpuinfo", "flags\t\t: fpu vme de pse lahf_lm\n"),
        ]);
        assert_eq!(detect(&m), Platform::Physical);
    }

    #[test]
    fn a_microsoft_laptop_is_not_hyper_v() {
        let (_d, m) = machine(&[
            ("/sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n"),
            ("/sys/class/dmi/id/product_name", "Surface Laptop 4\n"),
        ]);
        assert_eq!(detect(&m), Platform::Physical);
    }
}
