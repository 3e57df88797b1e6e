// SPDX-License-Identifier: MIT
/*
 * efi/mp.c - the other CPUs, through EFI_MP_SERVICES_PROTOCOL (PI spec;
 * not in gnu-efi's headers, so declared here).
 *
 * Only the loader's decode workers run on them: code that calls no
 * firmware service and touches only memory the loader owns.
 */
#include <efi.h>
#include <efilib.h>

#include "efi/kjefi.h"

#define MP_GUID { 0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 } }

typedef VOID (EFIAPI *AP_PROCEDURE)(VOID *Buffer);

typedef struct _MP_SERVICES MP_SERVICES;
struct _MP_SERVICES {
	EFI_STATUS (EFIAPI *GetNumberOfProcessors)(MP_SERVICES *This, UINTN *Total, UINTN *Enabled);
	EFI_STATUS (EFIAPI *GetProcessorInfo)(MP_SERVICES *This, UINTN Number, VOID *Info);
	EFI_STATUS (EFIAPI *StartupAllAPs)(MP_SERVICES *This, AP_PROCEDURE Procedure,
					   BOOLEAN SingleThread, EFI_EVENT WaitEvent,
					   UINTN TimeoutInMicroSeconds, VOID *Argument,
					   UINTN **FailedCpuList);
	VOID *StartupThisAP, *SwitchBSP, *EnableDisableAP;
	EFI_STATUS (EFIAPI *WhoAmI)(MP_SERVICES *This, UINTN *Number);
};

static MP_SERVICES *mp;
static EFI_EVENT mp_done;
static void (*mp_fn)(void *);
static void *mp_arg;
static UINTN mp_running;	/* APs started and not yet back from mp_fn */

static VOID EFIAPI ap_entry(VOID *unused)
{
	(void)unused;
	mp_fn(mp_arg);
	__atomic_fetch_sub(&mp_running, 1, __ATOMIC_RELEASE);
}

unsigned kjefi_mp_cpus(void)
{
	static EFI_GUID guid = MP_GUID;
	UINTN total = 0, enabled = 0;

	if (!mp && BS->LocateProtocol(&guid, NULL, (void **)&mp) != EFI_SUCCESS) {
		mp = NULL;
		return 1;
	}
	if (mp->GetNumberOfProcessors(mp, &total, &enabled) != EFI_SUCCESS || !enabled)
		return 1;
	return (unsigned)enabled;
}

kjefi_status kjefi_mp_start(void (*fn)(void *), void *arg)
{
	EFI_STATUS st;
	unsigned cpus = mp ? kjefi_mp_cpus() : 1;

	if (cpus < 2)
		return EFI_UNSUPPORTED;
	mp_fn = fn;
	mp_arg = arg;
	/* StartupAllAPs runs fn on every enabled AP or fails */
	__atomic_store_n(&mp_running, cpus - 1, __ATOMIC_RELEASE);
	st = BS->CreateEvent(0, 0, NULL, NULL, &mp_done);
	if (EFI_ERROR(st))
		return st;
	/* non-blocking: the APs run fn while the BSP goes on */
	st = mp->StartupAllAPs(mp, ap_entry, FALSE, mp_done, 0, NULL, NULL);
	if (EFI_ERROR(st)) {
		BS->CloseEvent(mp_done);
		mp_done = NULL;
	}
	return st;
}

/*
 * EDK2 signals the wait event from a timer that looks at the APs every
 * 100 ms: up to a tenth of a second after the last AP is done. The APs'
 * own count says so at once. The event is then left open, unless already
 * signalled, for the firmware's timer signals it later. Should an AP
 * never run fn, the count stays above zero: after a second the firmware's
 * event is waited for after all.
 */
void kjefi_mp_wait(void)
{
	UINTN idx;

	if (!mp_done)
		return;
	for (uint64_t t = kjefi_now_us(); kjefi_now_us() - t < 1000000;) {
		if (!__atomic_load_n(&mp_running, __ATOMIC_ACQUIRE)) {
			if (BS->CheckEvent(mp_done) == EFI_SUCCESS)
				BS->CloseEvent(mp_done);
			mp_done = NULL;
			return;
		}
		__asm__ volatile("pause");
	}
	BS->WaitForEvent(1, &mp_done, &idx);
	BS->CloseEvent(mp_done);
	mp_done = NULL;
}
