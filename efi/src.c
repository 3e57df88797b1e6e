// SPDX-License-Identifier: MIT
/*
 * efi/src.c - where an image is read from: a file on the loader's own
 * filesystem (Simple File System) or a GPT partition (Disk I/O on the
 * partition's handle, found by unique GUID or by GPT name).
 */
#include <efi.h>
#include <efilib.h>

#include "efi/kjefi.h"

extern EFI_HANDLE kjefi_image_handle;

struct kjefi_src {
	EFI_FILE_HANDLE file;		/* file source */
	EFI_DISK_IO *dio;		/* partition source */
	EFI_BLOCK_IO *bio;
	uint64_t size;
	char name[96];
};

static void ascii_to_ucs2(CHAR16 *out, size_t cap, const char *in)
{
	size_t i = 0;
	for (; in[i] && i + 1 < cap; i++)
		out[i] = in[i] == '/' ? L'\\' : (unsigned char)in[i];
	out[i] = 0;
}

/* The loader's own directory on its volume, e.g. "\EFI\kjresume\". */
static void loader_dir(EFI_LOADED_IMAGE *li, CHAR16 *out, size_t cap)
{
	size_t o = 0;
	EFI_DEVICE_PATH *dp = li->FilePath;

	out[0] = 0;
	for (; dp && !IsDevicePathEnd(dp); dp = NextDevicePathNode(dp)) {
		if (DevicePathType(dp) != MEDIA_DEVICE_PATH ||
		    DevicePathSubType(dp) != MEDIA_FILEPATH_DP)
			continue;
		FILEPATH_DEVICE_PATH *fp = (FILEPATH_DEVICE_PATH *)dp;
		size_t len = (DevicePathNodeLength(dp) - 4) / 2;
		if (o && out[o - 1] != L'\\' && fp->PathName[0] != L'\\' && o + 1 < cap)
			out[o++] = L'\\';
		for (size_t i = 0; i < len && fp->PathName[i] && o + 1 < cap; i++)
			out[o++] = fp->PathName[i];
	}
	/* strip the file name */
	while (o && out[o - 1] != L'\\')
		o--;
	if (!o)
		out[o++] = L'\\';
	out[o] = 0;
}

static EFI_STATUS open_on_own_volume(const char *path, UINT64 mode,
				     EFI_FILE_HANDLE *fh)
{
	EFI_LOADED_IMAGE *li;
	EFI_FILE_IO_INTERFACE *fs;
	EFI_FILE_HANDLE root;
	CHAR16 full[512];
	EFI_STATUS st;

	st = BS->HandleProtocol(kjefi_image_handle, &gEfiLoadedImageProtocolGuid, (void **)&li);
	if (EFI_ERROR(st))
		return st;
	st = BS->HandleProtocol(li->DeviceHandle, &gEfiSimpleFileSystemProtocolGuid, (void **)&fs);
	if (EFI_ERROR(st))
		return st;
	st = fs->OpenVolume(fs, &root);
	if (EFI_ERROR(st))
		return st;
	if (path[0] == '/' || path[0] == '\\') {
		ascii_to_ucs2(full, 512, path);
	} else {
		loader_dir(li, full, 256);
		size_t o = 0;
		while (full[o])
			o++;
		ascii_to_ucs2(full + o, 512 - o, path);
	}
	st = root->Open(root, fh, full, mode, 0);
	root->Close(root);
	return st;
}

kjefi_status kjefi_open_file(const char *path, bool writable, struct kjefi_src **out)
{
	EFI_FILE_HANDLE fh;
	EFI_STATUS st;
	struct kjefi_src *s;

	st = open_on_own_volume(path, EFI_FILE_MODE_READ |
				(writable ? EFI_FILE_MODE_WRITE : 0), &fh);
	if (EFI_ERROR(st))
		return st;
	EFI_FILE_INFO *fi = LibFileInfo(fh);
	if (!fi) {
		fh->Close(fh);
		return EFI_DEVICE_ERROR;
	}
	s = kjefi_alloc(sizeof(*s));
	if (!s) {
		FreePool(fi);
		fh->Close(fh);
		return EFI_OUT_OF_RESOURCES;
	}
	*s = (struct kjefi_src){ .file = fh, .size = fi->FileSize };
	FreePool(fi);
	kj_snprintf(s->name, sizeof(s->name), "file %s", path);
	*out = s;
	return EFI_SUCCESS;
}

char *kjefi_read_config(const char *name, size_t max)
{
	EFI_FILE_HANDLE fh;
	UINTN len = max;
	char *buf;

	if (EFI_ERROR(open_on_own_volume(name, EFI_FILE_MODE_READ, &fh)))
		return NULL;
	buf = kjefi_alloc(max + 1);
	if (buf && EFI_ERROR(fh->Read(fh, &len, buf))) {
		kjefi_free(buf);
		buf = NULL;
	}
	if (buf)
		buf[len] = 0;
	fh->Close(fh);
	return buf;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (GPT mixed endian) -> bytes */
static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static bool parse_guid(const char *s, UINT8 g[16])
{
	/* where the text's n-th hex pair goes in the on-disk GUID */
	static const int pos[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	char hex[32];
	int h = 0;

	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			continue;
		}
		if (hexval(s[i]) < 0)
			return false;
		hex[h++] = s[i];
	}
	if (s[36] && s[36] != ' ')
		return false;
	for (int b = 0; b < 16; b++)
		g[pos[b]] = (UINT8)(hexval(hex[2 * b]) << 4 | hexval(hex[2 * b + 1]));
	return true;
}

static HARDDRIVE_DEVICE_PATH *gpt_node(EFI_HANDLE h)
{
	EFI_DEVICE_PATH *dp = DevicePathFromHandle(h);
	HARDDRIVE_DEVICE_PATH *hd = NULL;

	for (; dp && !IsDevicePathEnd(dp); dp = NextDevicePathNode(dp))
		if (DevicePathType(dp) == MEDIA_DEVICE_PATH &&
		    DevicePathSubType(dp) == MEDIA_HARDDRIVE_DP)
			hd = (HARDDRIVE_DEVICE_PATH *)dp;
	if (hd && hd->SignatureType == SIGNATURE_TYPE_GUID)
		return hd;
	return NULL;
}

/* Find the unique GUID of the GPT partition named @label on any disk. */
static bool guid_by_label(EFI_HANDLE *hs, UINTN n, const char *label, UINT8 guid[16])
{
	for (UINTN i = 0; i < n; i++) {
		EFI_BLOCK_IO *bio;
		EFI_DISK_IO *dio;
		if (EFI_ERROR(BS->HandleProtocol(hs[i], &gEfiBlockIoProtocolGuid, (void **)&bio)) ||
		    bio->Media->LogicalPartition || !bio->Media->MediaPresent ||
		    EFI_ERROR(BS->HandleProtocol(hs[i], &gEfiDiskIoProtocolGuid, (void **)&dio)))
			continue;
		UINT32 bs = bio->Media->BlockSize, mid = bio->Media->MediaId;
		UINT8 hdr[512];
		if (EFI_ERROR(dio->ReadDisk(dio, mid, bs, sizeof(hdr), hdr)) ||
		    CompareMem(hdr, "EFI PART", 8))
			continue;
		UINT64 lba = *(UINT64 *)(hdr + 72);
		UINT32 count = *(UINT32 *)(hdr + 80), esz = *(UINT32 *)(hdr + 84);
		if (esz < 128 || esz > 1024 || count > 1024)
			continue;
		UINT8 ent[1024];
		for (UINT32 e = 0; e < count; e++) {
			if (EFI_ERROR(dio->ReadDisk(dio, mid, lba * bs + (UINT64)e * esz, esz, ent)))
				break;
			static const UINT8 zero[16];
			if (!CompareMem(ent, zero, 16))
				continue;
			CHAR16 *name = (CHAR16 *)(ent + 56);
			size_t k = 0;
			while (k < 36 && label[k] && name[k] == (unsigned char)label[k])
				k++;
			if (!label[k] && (k == 36 || name[k] == 0)) {
				CopyMem(guid, ent + 16, 16);
				return true;
			}
		}
	}
	return false;
}

kjefi_status kjefi_open_partition(const char *guid_s, const char *label,
				  struct kjefi_src **out)
{
	EFI_HANDLE *hs = NULL;
	UINTN n = 0;
	UINT8 guid[16];
	EFI_STATUS st;

	if (guid_s && !parse_guid(guid_s, guid))
		return EFI_INVALID_PARAMETER;
	st = LibLocateHandle(ByProtocol, &gEfiBlockIoProtocolGuid, NULL, &n, &hs);
	if (EFI_ERROR(st))
		return st;
	if (!guid_s && !guid_by_label(hs, n, label, guid)) {
		FreePool(hs);
		return EFI_NOT_FOUND;
	}
	st = EFI_NOT_FOUND;
	for (UINTN i = 0; i < n; i++) {
		HARDDRIVE_DEVICE_PATH *hd = gpt_node(hs[i]);
		EFI_BLOCK_IO *bio;
		EFI_DISK_IO *dio;
		if (!hd || CompareMem(hd->Signature, guid, 16))
			continue;
		if (EFI_ERROR(BS->HandleProtocol(hs[i], &gEfiBlockIoProtocolGuid, (void **)&bio)) ||
		    !bio->Media->LogicalPartition ||
		    EFI_ERROR(BS->HandleProtocol(hs[i], &gEfiDiskIoProtocolGuid, (void **)&dio)))
			continue;
		struct kjefi_src *s = kjefi_alloc(sizeof(*s));
		if (!s) {
			st = EFI_OUT_OF_RESOURCES;
			break;
		}
		*s = (struct kjefi_src){
			.dio = dio, .bio = bio,
			.size = (bio->Media->LastBlock + 1) * bio->Media->BlockSize,
		};
		kj_snprintf(s->name, sizeof(s->name), "partition %s%s (#%u)",
			    guid_s ? "" : "label ", guid_s ? guid_s : label,
			    hd->PartitionNumber);
		*out = s;
		st = EFI_SUCCESS;
		break;
	}
	FreePool(hs);
	return st;
}

uint64_t kjefi_src_size(const struct kjefi_src *s) { return s->size; }
const char *kjefi_src_name(const struct kjefi_src *s) { return s->name; }

kjefi_status kjefi_src_read(struct kjefi_src *s, uint64_t off, void *buf, size_t len)
{
	EFI_STATUS st;

	if (off > s->size || len > s->size - off)
		return EFI_INVALID_PARAMETER;
	if (s->dio)
		return s->dio->ReadDisk(s->dio, s->bio->Media->MediaId, off, len, buf);
	st = s->file->SetPosition(s->file, off);
	while (!EFI_ERROR(st) && len) {
		UINTN got = len;
		st = s->file->Read(s->file, &got, buf);
		if (!EFI_ERROR(st) && !got)
			st = EFI_DEVICE_ERROR;
		buf = (UINT8 *)buf + got;
		len -= got;
	}
	return st;
}

kjefi_status kjefi_src_write(struct kjefi_src *s, uint64_t off, const void *buf, size_t len)
{
	EFI_STATUS st;

	if (off > s->size || len > s->size - off)
		return EFI_INVALID_PARAMETER;
	if (s->dio) {
		st = s->dio->WriteDisk(s->dio, s->bio->Media->MediaId, off, len, (void *)buf);
		if (!EFI_ERROR(st))
			st = s->bio->FlushBlocks(s->bio);
		return st;
	}
	st = s->file->SetPosition(s->file, off);
	if (!EFI_ERROR(st)) {
		UINTN n = len;
		st = s->file->Write(s->file, &n, (void *)buf);
		if (!EFI_ERROR(st) && n != len)
			st = EFI_DEVICE_ERROR;
	}
	if (!EFI_ERROR(st))
		st = s->file->Flush(s->file);
	return st;
}

void kjefi_src_close(struct kjefi_src *s)
{
	if (!s)
		return;
	if (s->file)
		s->file->Close(s->file);
	kjefi_free(s);
}
