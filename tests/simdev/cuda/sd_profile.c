/* Device and fabric profiles of the simulated device: JSON files in tests/simdev/profiles
 * (or SIMDEV_PROFILE_DIR), chosen by SIMDEV_DEVICE / SIMDEV_FABRIC, each either a profile name
 * ("a100", "p4de") or a path to a JSON file. Every field is required: a profile that lacks one is
 * an error naming the file and the field, never a silent default. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

#ifndef SIMDEV_PROFILE_DIR_DEFAULT
#define SIMDEV_PROFILE_DIR_DEFAULT "tests/simdev/profiles"
#endif

static void sd_profile_path(const char *spec, char *out, size_t n)
{
    if (strchr(spec, '/') || (strlen(spec) > 5 && strcmp(spec + strlen(spec) - 5, ".json") == 0)) {
        snprintf(out, n, "%s", spec);
        return;
    }
    const char *dir = getenv("SIMDEV_PROFILE_DIR");
    snprintf(out, n, "%s/%s.json", dir && *dir ? dir : SIMDEV_PROFILE_DIR_DEFAULT, spec);
}

static json_t *sd_profile_open(const char *spec, const char *kind, char *path, size_t n)
{
    json_error_t err;
    sd_profile_path(spec, path, n);
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        sd_log("cannot read %s profile '%s' (%s): %s at line %d", kind, spec, path, err.text, err.line);
        return NULL;
    }
    json_t *k = json_object_get(root, "kind");
    if (!json_is_string(k) || strcmp(json_string_value(k), kind) != 0) {
        sd_log("%s: not a %s profile (\"kind\" must be \"%s\")", path, kind, kind);
        json_decref(root);
        return NULL;
    }
    return root;
}

static int sd_num(json_t *root, const char *path, const char *field, double min, double *out)
{
    json_t *v = json_object_get(root, field);
    if (!json_is_number(v)) {
        sd_log("%s: field \"%s\" missing or not a number", path, field);
        return -1;
    }
    double d = json_number_value(v);
    if (!(d >= min)) {
        sd_log("%s: field \"%s\" is %g, must be >= %g", path, field, d, min);
        return -1;
    }
    *out = d;
    return 0;
}

static int sd_int(json_t *root, const char *path, const char *field, int min, int *out)
{
    double d;
    if (sd_num(root, path, field, min, &d))
        return -1;
    *out = (int)d;
    return 0;
}

static int sd_str(json_t *root, const char *path, const char *field, char *out, size_t n)
{
    json_t *v = json_object_get(root, field);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= n) {
        sd_log("%s: field \"%s\" missing, empty or longer than %zu characters", path, field, n - 1);
        return -1;
    }
    snprintf(out, n, "%s", json_string_value(v));
    return 0;
}

static int sd_load_device(const char *spec, sd_device_profile_t *d)
{
    char path[4096];
    json_t *r = sd_profile_open(spec, "device", path, sizeof(path));
    if (!r)
        return -1;
    simdev_device_info_t *i = &d->info;
    int bad = 0;
    bad |= sd_str(r, path, "name", d->name, sizeof(d->name));
    bad |= sd_str(r, path, "full_name", d->full_name, sizeof(d->full_name));
    bad |= sd_int(r, path, "sms", 1, &i->sms);
    bad |= sd_num(r, path, "flops_f32", 1, &i->flops_f32);
    bad |= sd_num(r, path, "flops_f16", 1, &i->flops_f16);
    bad |= sd_num(r, path, "mem_bw", 1, &i->mem_bw);
    bad |= sd_num(r, path, "mem_bytes", 1 << 20, &i->mem_bytes);
    bad |= sd_int(r, path, "cc_major", 1, &i->cc_major);
    bad |= sd_int(r, path, "cc_minor", 0, &i->cc_minor);
    bad |= sd_num(r, path, "launch_us", 0, &i->launch_us);
    bad |= sd_num(r, path, "pcie_bw", 1, &i->pcie_bw);
    bad |= sd_num(r, path, "comm_sm_share", 0, &i->comm_sm_share);
    bad |= sd_num(r, path, "interference", 1, &i->interference);
    bad |= sd_num(r, path, "graph_node_us", 0, &d->graph_node_us);
    bad |= sd_num(r, path, "host_api_us", 0, &d->host_api_us);
    bad |= sd_num(r, path, "host_launch_us", 0, &d->host_launch_us);
    bad |= sd_num(r, path, "host_graph_launch_us", 0, &d->host_graph_launch_us);
    bad |= sd_num(r, path, "host_sync_us", 0, &d->host_sync_us);
    bad |= sd_num(r, path, "copy_latency_us", 0, &d->copy_latency_us);
    bad |= sd_int(r, path, "max_threads_per_sm", 32, &d->max_threads_per_sm);
    bad |= sd_int(r, path, "smem_per_block_optin", 0, &d->smem_per_block_optin);
    bad |= sd_int(r, path, "smem_per_sm", 0, &d->smem_per_sm);
    bad |= sd_int(r, path, "l2_bytes", 0, &d->l2_bytes);
    bad |= sd_int(r, path, "clock_khz", 1, &d->clock_khz);
    bad |= sd_int(r, path, "mem_clock_khz", 1, &d->mem_clock_khz);
    bad |= sd_int(r, path, "mem_bus_width", 1, &d->mem_bus_width);
    json_decref(r);
    if (!bad && i->comm_sm_share >= 1) {
        sd_log("%s: comm_sm_share must be below 1", path);
        bad = 1;
    }
    i->name = d->name;
    i->full_name = d->full_name;
    return bad ? -1 : 0;
}

static int sd_load_fabric(const char *spec, sd_fabric_profile_t *f)
{
    char path[4096];
    json_t *r = sd_profile_open(spec, "fabric", path, sizeof(path));
    if (!r)
        return -1;
    simdev_fabric_info_t *i = &f->info;
    int bad = 0;
    bad |= sd_str(r, path, "name", f->name, sizeof(f->name));
    bad |= sd_str(r, path, "device", f->device, sizeof(f->device));
    bad |= sd_int(r, path, "gpus_per_node", 1, &i->gpus_per_node);
    bad |= sd_num(r, path, "nvlink_bw", 1, &i->nvlink_bw);
    bad |= sd_num(r, path, "nvlink_latency_us", 0, &i->nvlink_latency_us);
    bad |= sd_int(r, path, "nics_per_node", 1, &i->nics_per_node);
    bad |= sd_num(r, path, "nic_bw", 1, &i->nic_bw);
    bad |= sd_num(r, path, "nic_latency_us", 0, &i->nic_latency_us);
    json_decref(r);
    i->name = f->name;
    i->device = f->device;
    return bad ? -1 : 0;
}

int sd_profile_load(sd_device_profile_t *dev, sd_fabric_profile_t *fab)
{
    const char *fs = getenv("SIMDEV_FABRIC");
    if (sd_load_fabric(fs && *fs ? fs : "p4de", fab))
        return -1;
    const char *ds = getenv("SIMDEV_DEVICE");
    if (sd_load_device(ds && *ds ? ds : fab->device, dev))
        return -1;
    return 0;
}
