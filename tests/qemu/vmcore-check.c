// SPDX-License-Identifier: MIT
/*
 * Run in kernel B: check that /proc/vmcore describes how to resume A.
 *
 *   vmcore-check [CORE] [EXPECTED_ENTRY]
 *
 * Finds the LINUXKJUMP resume and in-place notes and the VMCOREINFO note
 * (the kernel patch series puts them there), prints them, and fails when
 * one is missing or the in-place note does not fit the resume note, when the note's entry differs from EXPECTED_ENTRY (the
 * kexec_jump_back_entry= that kexec-tools passed on B's command line),
 * or when VMCOREINFO lacks what free-page filtering needs.
 * On success prints "KJ-ENTRY 0x..." for the caller.
 */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kexec_resume_note {	/* docs/FORMAT.md, kernel/patches */
	uint32_t version;
	uint32_t flags;
	uint64_t entry;
	char release[72];
};

static int fail(const char *msg)
{
	printf("KJ-B: FAIL %s\n", msg);
	return 1;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/proc/vmcore";
	int fd = open(path, O_RDONLY);
	if (fd < 0) return fail("cannot open /proc/vmcore");

	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_type != ET_CORE || eh.e_phentsize != sizeof(Elf64_Phdr))
		return fail("not an ELF64 core");

	Elf64_Phdr *ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph || pread(fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff) !=
			   (ssize_t)(eh.e_phnum * sizeof(*ph)))
		return fail("cannot read program headers");

	int nload = 0;
	uint64_t loadbytes = 0;
	struct kexec_resume_note rn;
	struct { uint32_t version, reserved; uint64_t entry, swap_list; } ip; /* type 2 */
	int have_rn = 0, have_ip = 0;
	char *vmcoreinfo = NULL;

	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD) {
			if (getenv("KJ_VERBOSE"))
				printf("KJ-B: PT_LOAD paddr %#" PRIx64 " vaddr %#" PRIx64 " filesz %#" PRIx64
				       " memsz %#" PRIx64 " offset %#" PRIx64 "\n", ph[i].p_paddr,
				       ph[i].p_vaddr, ph[i].p_filesz, ph[i].p_memsz, ph[i].p_offset);
			nload++;
			loadbytes += ph[i].p_memsz;
			continue;
		}
		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > (1 << 24))
			continue;
		char *buf = malloc(ph[i].p_filesz);
		if (!buf || pread(fd, buf, ph[i].p_filesz, ph[i].p_offset) != (ssize_t)ph[i].p_filesz)
			return fail("cannot read PT_NOTE");
		for (size_t off = 0; off + sizeof(Elf64_Nhdr) <= ph[i].p_filesz;) {
			Elf64_Nhdr *nh = (Elf64_Nhdr *)(buf + off);
			size_t name = off + sizeof(*nh);
			size_t desc = name + ((nh->n_namesz + 3) & ~3u);
			size_t next = desc + ((nh->n_descsz + 3) & ~3u);
			if (next > ph[i].p_filesz) break;
			if (nh->n_namesz == sizeof("LINUXKJUMP") &&
			    !memcmp(buf + name, "LINUXKJUMP", sizeof("LINUXKJUMP")) &&
			    nh->n_type == 1 && nh->n_descsz >= sizeof(rn)) {
				memcpy(&rn, buf + desc, sizeof(rn));
				have_rn = 1;
			}
			if (nh->n_namesz == sizeof("LINUXKJUMP") &&
			    !memcmp(buf + name, "LINUXKJUMP", sizeof("LINUXKJUMP")) &&
			    nh->n_type == 2 && nh->n_descsz == sizeof(ip)) {
				memcpy(&ip, buf + desc, sizeof(ip));
				have_ip = 1;
			}
			if (nh->n_namesz == sizeof("VMCOREINFO") &&
			    !memcmp(buf + name, "VMCOREINFO", sizeof("VMCOREINFO"))) {
				vmcoreinfo = strndup(buf + desc, nh->n_descsz);
			}
			off = next;
		}
		free(buf);
	}

	printf("KJ-B: vmcore has %d PT_LOAD (%" PRIu64 " MiB)\n", nload, loadbytes >> 20);
	if (!have_rn) return fail("no LINUXKJUMP resume note in /proc/vmcore");
	rn.release[sizeof(rn.release) - 1] = 0;
	printf("KJ-B: resume note v%u entry=0x%" PRIx64 " la57=%u gdt_restored=%u release=%s\n",
	       rn.version, rn.entry, rn.flags & 1, (rn.flags >> 1) & 1, rn.release);
	if (rn.version != 1) return fail("unknown resume note version");
	if (argc > 2 && strtoull(argv[2], NULL, 0) != rn.entry)
		return fail("resume note entry differs from kexec_jump_back_entry");
	/* the entry without the page swap: the same control page; the list
	 * starts with an indirection entry (IND_INDIRECTION, 0x2) */
	if (!have_ip) return fail("no LINUXKJUMP in-place note (type 2) in /proc/vmcore");
	printf("KJ-B: in-place note v%u entry=0x%" PRIx64 " swap_list=0x%" PRIx64 "\n",
	       ip.version, ip.entry, ip.swap_list);
	if (ip.version != 1 || ip.reserved || (ip.entry & ~4095ull) != (rn.entry & ~4095ull) ||
	    ip.entry == rn.entry || (ip.swap_list & 0xfff) != 0x2)
		return fail("bad in-place note");
	if (!vmcoreinfo) return fail("no VMCOREINFO note in /proc/vmcore");
	static const char *const need[] = {
		"OSRELEASE=", "PAGESIZE=", "SIZE(page)=", "OFFSET(page.flags)=",
		"OFFSET(page._mapcount)=", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=",
		"SYMBOL(init_top_pgt)=", "NUMBER(pgtable_l5_enabled)=",
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!strstr(vmcoreinfo, need[i])) {
			printf("KJ-B: VMCOREINFO lacks %s\n", need[i]);
			return fail("VMCOREINFO incomplete");
		}
	}
	char osrel[80] = "";
	sscanf(strstr(vmcoreinfo, "OSRELEASE="), "OSRELEASE=%79s", osrel);
	printf("KJ-B: VMCOREINFO %zu bytes, OSRELEASE=%s\n", strlen(vmcoreinfo), osrel);
	if (strcmp(osrel, rn.release)) return fail("VMCOREINFO OSRELEASE differs from the note");
	printf("KJ-ENTRY 0x%" PRIx64 "\n", rn.entry);
	return 0;
}
