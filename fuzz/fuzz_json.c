
/*
 * Copyright (C) The herd authors
 */


/*
 * The Places answer shaping (ngx_stream_herd_json.c) on any upstream body,
 * for both API variants and both formats, with allocations failing on
 * demand: the answer must parse as one JSON object, hold no empty line,
 * carry at most "bound" results, say the same in both formats, and be what
 * PROTOCOL.md 6 and 10 ask for.  ASan finds leaks and overruns; the body
 * ends at a guard page, so that even uninstrumented libcjson cannot read
 * past it unnoticed.
 *
 * Input: a header line, then the body:
 *
 *     legacy|new pretty|compact BOUND HTTP-STATUS [FAIL-AT]\n
 *     BODY
 *
 * FAIL-AT n > 0 makes the nth allocation fail.  Without a valid header
 * the whole input is the body, and the options come from its bytes.  Small
 * inputs and one in eight of the others are shaped in both formats too, and
 * the two answers compared (shaping takes most of a run's time).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sys/mman.h>
#include <math.h>
#include <cJSON.h>
#include "ngx_stream_herd_json.h"
#include "ngx_stubs.h"


#define FUZZ_JSON_ROOM  (1024 * 1024)


typedef struct {
    ngx_uint_t             api;
    ngx_uint_t             format;
    ngx_uint_t             both;       /* both formats, compared */
    ngx_uint_t             bound;
    ngx_int_t              status;
    ngx_uint_t             fail_at;
    u_char                *body;
    size_t                 len;
} fuzz_json_input_t;


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json_header(const uint8_t *data, size_t size,
    fuzz_json_input_t *in);
static cJSON *fuzz_json_shape(fuzz_json_input_t *in, ngx_uint_t format,
    ngx_uint_t *checked);
static cJSON *fuzz_json_check_text(ngx_str_t *json, ngx_uint_t format);
static void fuzz_json_expect(fuzz_json_input_t *in, cJSON *out);
static void fuzz_json_expect_legacy(fuzz_json_input_t *in, cJSON *body,
    cJSON *out);
static void fuzz_json_expect_new(fuzz_json_input_t *in, cJSON *body,
    cJSON *out);
static void fuzz_json_expect_place(cJSON *place, cJSON *res);
static void fuzz_json_expect_copy(cJSON *res, const char *name,
    cJSON *from, const char *field, cJSON_bool (*is)(const cJSON *));
static void fuzz_json_expect_error(cJSON *out, const char *status,
    const char *message);
static void fuzz_json_error(fuzz_json_input_t *in);
static cJSON *fuzz_json_parse_body(fuzz_json_input_t *in);
static ngx_uint_t fuzz_json_same(cJSON *a, cJSON *b);
static ngx_uint_t fuzz_json_keys(cJSON *object, const char **keys);


static u_char     *fuzz_json_guard;
static ngx_log_t   fuzz_json_log;
static ngx_str_t   fuzz_json_location = ngx_string("+34.068930-118.445127");


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    u_char  *p;
    size_t   page;

    ngx_fuzz_init();

    /* the body is copied to end right before an inaccessible page */

    page = sysconf(_SC_PAGESIZE);

    p = mmap(NULL, FUZZ_JSON_ROOM + page, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ngx_fuzz_check(p != MAP_FAILED);

    fuzz_json_guard = p + FUZZ_JSON_ROOM;
    ngx_fuzz_check(mprotect(fuzz_json_guard, page, PROT_NONE) == 0);

    /* every log line is formatted (and thrown away) */
    fuzz_json_log.log_level = NGX_LOG_DEBUG;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON              *one, *other;
    ngx_uint_t          checked_one, checked_other;
    fuzz_json_input_t   in;

    if (size > FUZZ_JSON_ROOM) {
        return 0;
    }

    fuzz_json_header(data, size, &in);

    one = fuzz_json_shape(&in, in.format, &checked_one);

    if (in.both) {
        other = fuzz_json_shape(&in, (in.format
                                      == NGX_STREAM_HERD_PLACES_PRETTY)
                                     ? NGX_STREAM_HERD_PLACES_COMPACT
                                     : NGX_STREAM_HERD_PLACES_PRETTY,
                                &checked_other);

        /* the same answer in both formats */

        if (checked_one && checked_other) {
            ngx_fuzz_check(fuzz_json_same(one, other));
        }

        cJSON_Delete(other);

        fuzz_json_error(&in);
    }

    cJSON_Delete(one);

    return 0;
}


static void
fuzz_json_header(const uint8_t *data, size_t size, fuzz_json_input_t *in)
{
    u_char      *nl, *body;
    char         api[16], format[16], line[64];
    size_t       len, i;
    unsigned     bound, status, fail;
    ngx_uint_t   h;
    int          n;

    nl = memchr(data, LF, ngx_min(size, sizeof(line) - 1));

    n = 0;
    fail = 0;
    h = 0;

    for (i = 0; i < size; i++) {
        h = h * 31 + data[i];
    }

    in->both = (size < 512 || (h & 0x700) == 0);

    if (nl) {
        memcpy(line, data, nl - data);
        line[nl - data] = '\0';

        n = sscanf(line, "%15s %15s %u %u %u", api, format, &bound, &status,
                   &fail);
    }

    if (n >= 4
        && (strcmp(api, "legacy") == 0 || strcmp(api, "new") == 0)
        && bound <= 100 && status <= 999 && fail <= 100000)
    {
        in->api = (api[0] == 'l') ? NGX_STREAM_HERD_PLACES_LEGACY
                                  : NGX_STREAM_HERD_PLACES_NEW;
        in->format = (strcmp(format, "compact") == 0)
                     ? NGX_STREAM_HERD_PLACES_COMPACT
                     : NGX_STREAM_HERD_PLACES_PRETTY;
        in->bound = bound;
        in->status = status;
        in->fail_at = (n == 5) ? fail : 0;

        body = nl + 1;
        len = size - (nl + 1 - data);

    } else {
        in->api = (h & 1) ? NGX_STREAM_HERD_PLACES_LEGACY
                          : NGX_STREAM_HERD_PLACES_NEW;
        in->format = (h & 0x40) ? NGX_STREAM_HERD_PLACES_COMPACT
                                : NGX_STREAM_HERD_PLACES_PRETTY;
        in->bound = (h >> 1) % 21;
        in->status = (h & 0x3c) ? 200 : 400 + (h >> 8) % 200;
        in->fail_at = 0;

        body = (u_char *) data;
        len = size;
    }

    in->len = len;
    in->body = fuzz_json_guard - len;
    memcpy(in->body, body, len);

    if (len == 0 && (in->bound & 1)) {
        /* no body at all, as libcurl leaves it */
        in->body = NULL;
    }
}


/* the text checked and parsed back; NULL with *checked = 0: no memory */

static cJSON *
fuzz_json_shape(fuzz_json_input_t *in, ngx_uint_t format,
    ngx_uint_t *checked)
{
    cJSON                      *out;
    ngx_int_t                   rc;
    ngx_str_t                   json;
    ngx_uint_t                  failed;
    ngx_stream_herd_json_in_t   jin;

    jin.body = in->body;
    jin.len = in->len;
    jin.status = in->status;
    jin.api = in->api;
    jin.bound = in->bound;
    jin.format = format;
    jin.location = &fuzz_json_location;
    jin.log = &fuzz_json_log;

    ngx_fuzz_fail_at(in->fail_at);

    rc = ngx_stream_herd_json_shape(&jin, &json);

    failed = ngx_fuzz_allocation_failed();
    ngx_fuzz_fail_at(0);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        /* the static answer; only when memory ran out */
        ngx_fuzz_check(json.data
                       == ngx_stream_herd_json_failed(format)->data);
        ngx_fuzz_check(failed || in->len > 4096);

        /* more than 16 MB printed: possible with a larger input only */
        failed = 1;
    }

    out = fuzz_json_check_text(&json, format);

    if (rc == NGX_OK) {
        ngx_free(json.data);
    }

    *checked = !failed;

    if (!failed) {
        fuzz_json_expect(in, out);
    }

    return out;
}


/* one JSON object, no empty line, LF only between members when pretty */

static cJSON *
fuzz_json_check_text(ngx_str_t *json, ngx_uint_t format)
{
    char        *text;
    cJSON       *out, *status;
    size_t       i;
    const char  *end;

    ngx_fuzz_check(json->len >= 2);
    ngx_fuzz_check(json->data[0] == '{');
    ngx_fuzz_check(json->data[json->len - 1] == '}');

    for (i = 0; i < json->len; i++) {
        if (json->data[i] == LF) {
            ngx_fuzz_check(format == NGX_STREAM_HERD_PLACES_PRETTY);
            ngx_fuzz_check(json->data[i + 1] != LF);

        } else {
            ngx_fuzz_check(json->data[i] >= 0x20);
        }
    }

    /* exactly the text, no NUL after it */

    text = malloc(json->len);
    ngx_fuzz_check(text != NULL);
    memcpy(text, json->data, json->len);

    out = cJSON_ParseWithLengthOpts(text, json->len, &end, 0);

    ngx_fuzz_check(out != NULL);
    ngx_fuzz_check(end == text + json->len);
    ngx_fuzz_check(cJSON_IsObject(out));

    free(text);

    status = cJSON_GetObjectItemCaseSensitive(out, "status");
    ngx_fuzz_check(cJSON_IsString(status));

    return out;
}


static void
fuzz_json_expect(fuzz_json_input_t *in, cJSON *out)
{
    char    message[64];
    cJSON  *body, *results;

    /* a legacy answer's results if they are an array: else as they came */

    results = cJSON_GetObjectItemCaseSensitive(out, "results");

    if (cJSON_IsArray(results)) {
        ngx_fuzz_check((ngx_uint_t) cJSON_GetArraySize(results)
                       <= in->bound);
    }

    if (in->status != 200) {

        if (in->api == NGX_STREAM_HERD_PLACES_NEW) {
            fuzz_json_expect_new(in, NULL, out);
            return;
        }

        snprintf(message, sizeof(message), "The Places API answered HTTP %d",
                 (int) in->status);
        fuzz_json_expect_error(out, "UNKNOWN_ERROR", message);
        return;
    }

    body = fuzz_json_parse_body(in);

    if (body == NULL) {
        fuzz_json_expect_error(out, "UNKNOWN_ERROR",
                               "The Places API answered invalid JSON");
        return;
    }

    if (in->api == NGX_STREAM_HERD_PLACES_LEGACY) {
        fuzz_json_expect_legacy(in, body, out);

    } else {
        fuzz_json_expect_new(in, body, out);
    }

    cJSON_Delete(body);
}


/* Google's envelope as it came, results cut to the bound */

static void
fuzz_json_expect_legacy(fuzz_json_input_t *in, cJSON *body, cJSON *out)
{
    int     n;
    cJSON  *status, *results, *item;

    status = cJSON_GetObjectItemCaseSensitive(body, "status");

    if (!cJSON_IsString(status)) {
        fuzz_json_expect_error(out, "UNKNOWN_ERROR",
                               "The Places API answered invalid JSON");
        return;
    }

    results = cJSON_GetObjectItemCaseSensitive(body, "results");

    if (cJSON_IsArray(results)) {
        n = cJSON_GetArraySize(results);

        while (n > (int) in->bound) {
            item = cJSON_DetachItemFromArray(results, --n);
            cJSON_Delete(item);
        }
    }

    ngx_fuzz_check(fuzz_json_same(body, out));
}


/* the New API translated; body NULL: an HTTP error */

static void
fuzz_json_expect_new(fuzz_json_input_t *in, cJSON *body, cJSON *out)
{
    char         buf[64];
    cJSON       *places, *place, *results, *res, *error, *message;
    ngx_uint_t   n;
    const char  *status;

    static const char  *keys[] = {
        "html_attributions", "results", "status", NULL
    };

    if (body == NULL) {
        switch (in->status) {
        case 400:
            status = "INVALID_REQUEST";
            break;
        case 403:
            status = "REQUEST_DENIED";
            break;
        case 429:
            status = "OVER_QUERY_LIMIT";
            break;
        default:
            status = "UNKNOWN_ERROR";
        }

        snprintf(buf, sizeof(buf), "The Places API answered HTTP %d",
                 (int) in->status);

        /* Google's message, if there is one (trailing bytes allowed) */

        body = in->body ? cJSON_ParseWithLength((char *) in->body, in->len)
                        : NULL;
        error = cJSON_GetObjectItemCaseSensitive(body, "error");
        message = cJSON_GetObjectItemCaseSensitive(error, "message");

        fuzz_json_expect_error(out, status,
                               (cJSON_IsString(message)
                                && message->valuestring[0])
                               ? message->valuestring : buf);
        cJSON_Delete(body);
        return;
    }

    places = cJSON_GetObjectItemCaseSensitive(body, "places");

    if (places != NULL && !cJSON_IsArray(places)) {
        fuzz_json_expect_error(out, "UNKNOWN_ERROR",
                               "The Places API answered invalid JSON");
        return;
    }

    ngx_fuzz_check(fuzz_json_keys(out, keys));
    ngx_fuzz_check(cJSON_GetArraySize(out->child) == 0);

    results = cJSON_GetObjectItemCaseSensitive(out, "results");
    ngx_fuzz_check(cJSON_IsArray(results));

    res = results->child;
    n = 0;

    cJSON_ArrayForEach(place, places) {
        if (n == in->bound || !cJSON_IsObject(place)) {
            continue;
        }

        ngx_fuzz_check(res != NULL);
        fuzz_json_expect_place(place, res);

        res = res->next;
        n++;
    }

    ngx_fuzz_check(res == NULL);

    ngx_fuzz_check(strcmp(cJSON_GetObjectItemCaseSensitive(out, "status")
                              ->valuestring,
                          n ? "OK" : "ZERO_RESULTS")
                   == 0);
}


/* PROTOCOL.md 10: the members of a result, in Google's order */

static void
fuzz_json_expect_place(cJSON *place, cJSON *res)
{
    cJSON       *item, *lat, *lng, *geometry, *location, *child;
    const char  *prev;

    ngx_fuzz_check(cJSON_IsObject(res));

    prev = "";

    for (child = res->child; child; child = child->next) {
        ngx_fuzz_check(strcmp(prev, child->string) < 0);
        prev = child->string;
    }

    fuzz_json_expect_copy(res, "business_status", place, "businessStatus",
                          cJSON_IsString);
    fuzz_json_expect_copy(res, "name",
                          cJSON_GetObjectItemCaseSensitive(place,
                                                           "displayName"),
                          "text", cJSON_IsString);
    fuzz_json_expect_copy(res, "place_id", place, "id", cJSON_IsString);
    fuzz_json_expect_copy(res, "rating", place, "rating", cJSON_IsNumber);
    fuzz_json_expect_copy(res, "types", place, "types", cJSON_IsArray);
    fuzz_json_expect_copy(res, "user_ratings_total", place,
                          "userRatingCount", cJSON_IsNumber);
    fuzz_json_expect_copy(res, "vicinity", place, "shortFormattedAddress",
                          cJSON_IsString);

    item = cJSON_GetObjectItemCaseSensitive(place, "location");
    lat = cJSON_GetObjectItemCaseSensitive(item, "latitude");
    lng = cJSON_GetObjectItemCaseSensitive(item, "longitude");

    geometry = cJSON_GetObjectItemCaseSensitive(res, "geometry");

    if (!cJSON_IsNumber(lat) || !cJSON_IsNumber(lng)) {
        ngx_fuzz_check(geometry == NULL);
        return;
    }

    location = cJSON_GetObjectItemCaseSensitive(geometry, "location");

    ngx_fuzz_check(cJSON_GetArraySize(geometry) == 1);
    ngx_fuzz_check(cJSON_GetArraySize(location) == 2);

    item = cJSON_GetObjectItemCaseSensitive(location, "lat");
    ngx_fuzz_check(item == location->child && fuzz_json_same(lat, item));

    item = cJSON_GetObjectItemCaseSensitive(location, "lng");
    ngx_fuzz_check(item == location->child->next
                   && fuzz_json_same(lng, item));
}


static void
fuzz_json_expect_copy(cJSON *res, const char *name, cJSON *from,
    const char *field, cJSON_bool (*is)(const cJSON *))
{
    cJSON  *item, *copy;

    item = cJSON_GetObjectItemCaseSensitive(from, field);
    copy = cJSON_GetObjectItemCaseSensitive(res, name);

    if (item == NULL || !is(item)) {
        ngx_fuzz_check(copy == NULL);
        return;
    }

    ngx_fuzz_check(copy != NULL && fuzz_json_same(item, copy));
}


/* {"error_message", "html_attributions": [], "results": [], "status"} */

static void
fuzz_json_expect_error(cJSON *out, const char *status, const char *message)
{
    cJSON  *item;

    static const char  *keys[] = {
        "error_message", "html_attributions", "results", "status", NULL
    };

    ngx_fuzz_check(fuzz_json_keys(out, keys));

    item = out->child;
    ngx_fuzz_check(cJSON_IsString(item)
                   && strcmp(item->valuestring, message) == 0);

    item = item->next;
    ngx_fuzz_check(cJSON_IsArray(item) && item->child == NULL);

    item = item->next;
    ngx_fuzz_check(cJSON_IsArray(item) && item->child == NULL);

    item = item->next;
    ngx_fuzz_check(cJSON_IsString(item)
                   && strcmp(item->valuestring, status) == 0);
}


/* an error envelope of the caller's own, any message */

static void
fuzz_json_error(fuzz_json_input_t *in)
{
    char        *message;
    cJSON       *out;
    ngx_int_t    rc;
    ngx_str_t    json;
    ngx_uint_t   format, failed;

    message = malloc(in->len + 1);
    ngx_fuzz_check(message != NULL);

    if (in->len) {
        memcpy(message, in->body, in->len);
    }

    message[in->len] = '\0';

    for (format = NGX_STREAM_HERD_PLACES_PRETTY;
         format <= NGX_STREAM_HERD_PLACES_COMPACT;
         format++)
    {
        ngx_fuzz_fail_at(in->fail_at);

        rc = ngx_stream_herd_json_shape_error("UNKNOWN_ERROR", message,
                                              format, &fuzz_json_log, &json);

        failed = ngx_fuzz_allocation_failed();
        ngx_fuzz_fail_at(0);

        ngx_fuzz_check(rc == NGX_OK || (rc == NGX_DECLINED && failed));

        out = fuzz_json_check_text(&json, format);

        if (rc == NGX_OK) {
            ngx_free(json.data);
        }

        if (!failed) {
            fuzz_json_expect_error(out, "UNKNOWN_ERROR", message);
        }

        cJSON_Delete(out);
    }

    free(message);
}


/* what ngx_stream_herd_json.c must accept: one object, white space after */

static cJSON *
fuzz_json_parse_body(fuzz_json_input_t *in)
{
    cJSON       *body;
    const char  *p, *end, *last;

    p = in->body ? (char *) in->body : "";
    last = p + (in->body ? in->len : 0);

    /* JSON has no raw control characters but these three white spaces */

    for (end = p; end < last; end++) {
        if ((unsigned char) *end < 0x20
            && *end != '\t' && *end != '\r' && *end != '\n')
        {
            return NULL;
        }
    }

    body = cJSON_ParseWithLengthOpts(p, last - p, &end, 0);

    if (body == NULL) {
        return NULL;
    }

    while (end < last && strchr(" \t\r\n", *end) && *end != '\0') {
        end++;
    }

    if (end != last || !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return NULL;
    }

    return body;
}


/* the same value: member order, names, types and values all the way down */

static ngx_uint_t
fuzz_json_same(cJSON *a, cJSON *b)
{
    cJSON  *x, *y;

    if (cJSON_IsNumber(a) && !isfinite(a->valuedouble)) {
        /* JSON has no infinity: printed as null */
        return cJSON_IsNull(b) || (cJSON_IsNumber(b)
                                   && !isfinite(b->valuedouble));
    }

    if ((a->type & 0xff) != (b->type & 0xff)) {
        return 0;
    }

    switch (a->type & 0xff) {

    case cJSON_Number:
        return a->valuedouble == b->valuedouble;

    case cJSON_String:
        return strcmp(a->valuestring, b->valuestring) == 0;

    case cJSON_Array:
    case cJSON_Object:

        for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {
            if ((x->string == NULL) != (y->string == NULL)
                || (x->string && strcmp(x->string, y->string) != 0)
                || !fuzz_json_same(x, y))
            {
                return 0;
            }
        }

        return x == NULL && y == NULL;

    default:
        return 1;
    }
}


/* exactly these members, in this order */

static ngx_uint_t
fuzz_json_keys(cJSON *object, const char **keys)
{
    cJSON  *child;

    child = object->child;

    while (*keys) {
        if (child == NULL || strcmp(child->string, *keys) != 0) {
            return 0;
        }

        child = child->next;
        keys++;
    }

    return child == NULL;
}
