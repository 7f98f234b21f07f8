
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <cJSON.h>
#include "ngx_stream_herd_json.h"


#define NGX_STREAM_HERD_JSON_OUT_INIT  4096

/* deep nesting multiplies indentation: bound what one answer may print */
#define NGX_STREAM_HERD_JSON_OUT_MAX   (16 * 1024 * 1024)

/* member types for ngx_stream_herd_json_copy() */
#define NGX_STREAM_HERD_JSON_STRING    1
#define NGX_STREAM_HERD_JSON_NUMBER    2
#define NGX_STREAM_HERD_JSON_ARRAY     3


/* JSON output under construction */
typedef struct {
    u_char                             *start;
    u_char                             *last;
    u_char                             *end;
    ngx_log_t                          *log;
    ngx_uint_t                          compact;
    ngx_uint_t                          failed;
} ngx_stream_herd_json_out_t;


static ngx_int_t ngx_stream_herd_json_finish(cJSON *root, ngx_uint_t format,
    ngx_log_t *log, ngx_str_t *json);
static cJSON *ngx_stream_herd_json_answer(ngx_stream_herd_json_in_t *in);
static cJSON *ngx_stream_herd_json_parse(ngx_stream_herd_json_in_t *in);
static cJSON *ngx_stream_herd_json_legacy(ngx_stream_herd_json_in_t *in,
    cJSON *root);
static cJSON *ngx_stream_herd_json_translate(ngx_stream_herd_json_in_t *in,
    cJSON *root);
static cJSON *ngx_stream_herd_json_new_error(ngx_stream_herd_json_in_t *in);
static cJSON *ngx_stream_herd_json_error(const char *status,
    const char *message);
static ngx_int_t ngx_stream_herd_json_copy(cJSON *to, const char *name,
    cJSON *from, const char *field, ngx_uint_t type);
static void ngx_stream_herd_json_cut(cJSON *array, ngx_uint_t bound);

static ngx_int_t ngx_stream_herd_json_print(cJSON *root, ngx_uint_t format,
    ngx_log_t *log, ngx_str_t *json);
static void ngx_stream_herd_json_print_value(ngx_stream_herd_json_out_t *out,
    cJSON *item, ngx_uint_t depth);
static void ngx_stream_herd_json_print_string(
    ngx_stream_herd_json_out_t *out, const char *s);
static void ngx_stream_herd_json_print_number(
    ngx_stream_herd_json_out_t *out, double d);
static void ngx_stream_herd_json_indent(ngx_stream_herd_json_out_t *out,
    ngx_uint_t depth);
static void ngx_stream_herd_json_append(ngx_stream_herd_json_out_t *out,
    const u_char *p, size_t len);
static void ngx_stream_herd_json_newlines(ngx_str_t *json);


/* the answer that needs no memory: [pretty, compact] */

static ngx_str_t  ngx_stream_herd_json_failed_answer[] = {
    ngx_string(
    "{\n"
    "   \"error_message\" : \"The herd server could not ask Places\",\n"
    "   \"html_attributions\" : [],\n"
    "   \"results\" : [],\n"
    "   \"status\" : \"UNKNOWN_ERROR\"\n"
    "}"),
    ngx_string(
    "{\"error_message\":\"The herd server could not ask Places\","
    "\"html_attributions\":[],\"results\":[],\"status\":\"UNKNOWN_ERROR\"}")
};


ngx_int_t
ngx_stream_herd_json_shape(ngx_stream_herd_json_in_t *in, ngx_str_t *json)
{
    return ngx_stream_herd_json_finish(ngx_stream_herd_json_answer(in),
                                       in->format, in->log, json);
}


ngx_int_t
ngx_stream_herd_json_shape_error(const char *status, const char *message,
    ngx_uint_t format, ngx_log_t *log, ngx_str_t *json)
{
    return ngx_stream_herd_json_finish(
               ngx_stream_herd_json_error(status, message), format, log,
               json);
}


ngx_str_t *
ngx_stream_herd_json_failed(ngx_uint_t format)
{
    return &ngx_stream_herd_json_failed_answer[
                               format == NGX_STREAM_HERD_PLACES_COMPACT];
}


/* prints and frees the answer; NULL (no memory): the static answer */

static ngx_int_t
ngx_stream_herd_json_finish(cJSON *root, ngx_uint_t format, ngx_log_t *log,
    ngx_str_t *json)
{
    ngx_int_t  rc;

    if (root == NULL) {
        *json = *ngx_stream_herd_json_failed(format);
        return NGX_DECLINED;
    }

    rc = ngx_stream_herd_json_print(root, format, log, json);

    cJSON_Delete(root);

    if (rc != NGX_OK) {
        *json = *ngx_stream_herd_json_failed(format);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the answer in the legacy envelope, or NULL when out of memory */

static cJSON *
ngx_stream_herd_json_answer(ngx_stream_herd_json_in_t *in)
{
    u_char      *p;
    cJSON       *root, *answer;
    u_char       buf[64];

    if (in->status != 200) {

        if (in->api == NGX_STREAM_HERD_PLACES_NEW) {
            return ngx_stream_herd_json_new_error(in);
        }

        ngx_log_error(NGX_LOG_ERR, in->log, 0,
                      "herd places: upstream call for %V answered HTTP %i",
                      in->location, in->status);

        p = ngx_snprintf(buf, sizeof(buf) - 1,
                         "The Places API answered HTTP %i", in->status);
        *p = '\0';

        return ngx_stream_herd_json_error("UNKNOWN_ERROR", (char *) buf);
    }

    root = ngx_stream_herd_json_parse(in);

    if (root == NULL) {
        return ngx_stream_herd_json_error("UNKNOWN_ERROR",
                   "The Places API answered invalid JSON");
    }

    if (in->api == NGX_STREAM_HERD_PLACES_LEGACY) {
        answer = ngx_stream_herd_json_legacy(in, root);

        if (answer != root) {
            cJSON_Delete(root);
        }

        return answer;
    }

    answer = ngx_stream_herd_json_translate(in, root);

    cJSON_Delete(root);

    return answer;
}


/* a JSON object, bounded by the body's length, nothing after it */

static cJSON *
ngx_stream_herd_json_parse(ngx_stream_herd_json_in_t *in)
{
    cJSON       *root;
    size_t       len;
    const char  *p, *end, *last;

    p = in->body ? (const char *) in->body : "";
    len = in->body ? in->len : 0;
    last = p + len;

    /* cJSON takes control characters for white space, and a NUL in a
     * string would cut it short: JSON has neither */

    for (end = p; end < last; end++) {
        if ((u_char) *end < 0x20
            && *end != '\t' && *end != '\n' && *end != '\r')
        {
            ngx_log_error(NGX_LOG_ERR, in->log, 0,
                          "herd places: upstream call for %V: a control "
                          "character in the answer", in->location);
            return NULL;
        }
    }

    end = NULL;
    root = cJSON_ParseWithLengthOpts(p, len, &end, 0);

    if (root == NULL) {
        ngx_log_error(NGX_LOG_ERR, in->log, 0,
                      "herd places: upstream call for %V: invalid JSON "
                      "in the answer (%uz bytes)", in->location, len);
        return NULL;
    }

    while (end < last
           && (*end == ' ' || *end == '\t' || *end == CR || *end == LF))
    {
        end++;
    }

    if (end != last || !cJSON_IsObject(root)) {
        ngx_log_error(NGX_LOG_ERR, in->log, 0,
                      "herd places: upstream call for %V: the answer is "
                      "not one JSON object (%uz bytes)", in->location, len);
        cJSON_Delete(root);
        return NULL;
    }

    return root;
}


/* legacy: Google's own envelope, results cut to the bound */

static cJSON *
ngx_stream_herd_json_legacy(ngx_stream_herd_json_in_t *in, cJSON *root)
{
    int     n;
    cJSON  *status, *results, *message;

    status = cJSON_GetObjectItemCaseSensitive(root, "status");

    if (!cJSON_IsString(status)) {
        ngx_log_error(NGX_LOG_ERR, in->log, 0,
                      "herd places: upstream call for %V: no \"status\" "
                      "in the answer", in->location);
        return ngx_stream_herd_json_error("UNKNOWN_ERROR",
                   "The Places API answered invalid JSON");
    }

    results = cJSON_GetObjectItemCaseSensitive(root, "results");

    n = 0;

    if (cJSON_IsArray(results)) {
        n = cJSON_GetArraySize(results);
        ngx_stream_herd_json_cut(results, in->bound);
    }

    if (ngx_strcmp(status->valuestring, "OK") == 0
        || ngx_strcmp(status->valuestring, "ZERO_RESULTS") == 0)
    {
        ngx_log_error(NGX_LOG_INFO, in->log, 0,
                      "herd places: upstream call for %V: %s, %d results, "
                      "%ui relayed", in->location, status->valuestring, n,
                      ngx_min((ngx_uint_t) n, in->bound));
        return root;
    }

    message = cJSON_GetObjectItemCaseSensitive(root, "error_message");

    ngx_log_error(NGX_LOG_WARN, in->log, 0,
                  "herd places: upstream call for %V: %s: %s",
                  in->location, status->valuestring,
                  cJSON_IsString(message) ? message->valuestring : "");

    return root;
}


/*
 * New API -> legacy envelope: displayName.text -> name, location ->
 * geometry.location.lat/lng, id -> place_id, shortFormattedAddress ->
 * vicinity, types, rating, userRatingCount -> user_ratings_total,
 * businessStatus -> business_status; members in Google's (alphabetical)
 * order.
 */

static cJSON *
ngx_stream_herd_json_translate(ngx_stream_herd_json_in_t *in,
    cJSON *root)
{
    int          total;
    cJSON       *places, *place, *out, *results, *res, *item, *lat, *lng;
    cJSON       *geometry, *location;
    ngx_uint_t   n;

    places = cJSON_GetObjectItemCaseSensitive(root, "places");

    if (places != NULL && !cJSON_IsArray(places)) {
        ngx_log_error(NGX_LOG_ERR, in->log, 0,
                      "herd places: upstream call for %V: \"places\" is "
                      "not an array", in->location);
        return ngx_stream_herd_json_error("UNKNOWN_ERROR",
                   "The Places API answered invalid JSON");
    }

    out = cJSON_CreateObject();
    if (out == NULL) {
        return NULL;
    }

    if (cJSON_AddArrayToObject(out, "html_attributions") == NULL) {
        goto failed;
    }

    results = cJSON_AddArrayToObject(out, "results");
    if (results == NULL) {
        goto failed;
    }

    n = 0;
    total = 0;

    cJSON_ArrayForEach(place, places) {

        total++;

        if (n == in->bound || !cJSON_IsObject(place)) {
            continue;
        }

        res = cJSON_CreateObject();
        if (res == NULL) {
            goto failed;
        }

        if (!cJSON_AddItemToArray(results, res)) {
            cJSON_Delete(res);
            goto failed;
        }

        if (ngx_stream_herd_json_copy(res, "business_status", place,
                                        "businessStatus",
                                        NGX_STREAM_HERD_JSON_STRING)
            != NGX_OK)
        {
            goto failed;
        }

        item = cJSON_GetObjectItemCaseSensitive(place, "location");
        lat = cJSON_GetObjectItemCaseSensitive(item, "latitude");
        lng = cJSON_GetObjectItemCaseSensitive(item, "longitude");

        if (cJSON_IsNumber(lat) && cJSON_IsNumber(lng)) {
            geometry = cJSON_AddObjectToObject(res, "geometry");
            if (geometry == NULL) {
                goto failed;
            }

            location = cJSON_AddObjectToObject(geometry, "location");
            if (location == NULL) {
                goto failed;
            }

            if (cJSON_AddNumberToObject(location, "lat", lat->valuedouble)
                == NULL
                || cJSON_AddNumberToObject(location, "lng", lng->valuedouble)
                   == NULL)
            {
                goto failed;
            }
        }

        item = cJSON_GetObjectItemCaseSensitive(place, "displayName");

        if (ngx_stream_herd_json_copy(res, "name", item, "text",
                                        NGX_STREAM_HERD_JSON_STRING)
            != NGX_OK
            || ngx_stream_herd_json_copy(res, "place_id", place, "id",
                                           NGX_STREAM_HERD_JSON_STRING)
               != NGX_OK
            || ngx_stream_herd_json_copy(res, "rating", place, "rating",
                                           NGX_STREAM_HERD_JSON_NUMBER)
               != NGX_OK
            || ngx_stream_herd_json_copy(res, "types", place, "types",
                                           NGX_STREAM_HERD_JSON_ARRAY)
               != NGX_OK
            || ngx_stream_herd_json_copy(res, "user_ratings_total", place,
                                           "userRatingCount",
                                           NGX_STREAM_HERD_JSON_NUMBER)
               != NGX_OK
            || ngx_stream_herd_json_copy(res, "vicinity", place,
                                           "shortFormattedAddress",
                                           NGX_STREAM_HERD_JSON_STRING)
               != NGX_OK)
        {
            goto failed;
        }

        n++;
    }

    if (cJSON_AddStringToObject(out, "status", n ? "OK" : "ZERO_RESULTS")
        == NULL)
    {
        goto failed;
    }

    ngx_log_error(NGX_LOG_INFO, in->log, 0,
                  "herd places: upstream call for %V: %d places, "
                  "%ui relayed", in->location, total, n);

    return out;

failed:

    cJSON_Delete(out);

    return NULL;
}


/* New API errors: HTTP 400, 403, 429, others; Google's message if any */

static cJSON *
ngx_stream_herd_json_new_error(ngx_stream_herd_json_in_t *in)
{
    u_char      *p;
    cJSON       *root, *error, *message, *out;
    ngx_uint_t   level;
    const char  *status, *text;
    u_char       buf[64];

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

    p = ngx_snprintf(buf, sizeof(buf) - 1, "The Places API answered HTTP %i",
                     in->status);
    *p = '\0';

    text = (char *) buf;

    root = NULL;

    if (in->body) {
        root = cJSON_ParseWithLength((const char *) in->body, in->len);
    }

    error = cJSON_GetObjectItemCaseSensitive(root, "error");
    message = cJSON_GetObjectItemCaseSensitive(error, "message");

    if (cJSON_IsString(message) && message->valuestring[0] != '\0') {
        text = message->valuestring;
    }

    level = (in->status >= 500) ? NGX_LOG_ERR : NGX_LOG_WARN;

    ngx_log_error(level, in->log, 0,
                  "herd places: upstream call for %V answered HTTP %i, "
                  "relayed as %s: %s", in->location, in->status, status,
                  text);

    out = ngx_stream_herd_json_error(status, text);

    if (root) {
        cJSON_Delete(root);
    }

    return out;
}


/* {"error_message", "html_attributions", "results", "status"} */

static cJSON *
ngx_stream_herd_json_error(const char *status, const char *message)
{
    cJSON  *out;

    out = cJSON_CreateObject();
    if (out == NULL) {
        return NULL;
    }

    if (cJSON_AddStringToObject(out, "error_message", message) == NULL
        || cJSON_AddArrayToObject(out, "html_attributions") == NULL
        || cJSON_AddArrayToObject(out, "results") == NULL
        || cJSON_AddStringToObject(out, "status", status) == NULL)
    {
        cJSON_Delete(out);
        return NULL;
    }

    return out;
}


/* to.name = copy of from.field, if from.field exists with that type */

static ngx_int_t
ngx_stream_herd_json_copy(cJSON *to, const char *name, cJSON *from,
    const char *field, ngx_uint_t type)
{
    cJSON  *item, *copy;

    item = cJSON_GetObjectItemCaseSensitive(from, field);

    if (item == NULL
        || (type == NGX_STREAM_HERD_JSON_STRING && !cJSON_IsString(item))
        || (type == NGX_STREAM_HERD_JSON_NUMBER && !cJSON_IsNumber(item))
        || (type == NGX_STREAM_HERD_JSON_ARRAY && !cJSON_IsArray(item)))
    {
        return NGX_OK;
    }

    copy = cJSON_Duplicate(item, 1);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    if (!cJSON_AddItemToObject(to, name, copy)) {
        cJSON_Delete(copy);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* keep the first "bound" entries */

static void
ngx_stream_herd_json_cut(cJSON *array, ngx_uint_t bound)
{
    cJSON  *item, *next;

    item = cJSON_GetArrayItem(array, (int) bound);

    while (item) {
        next = item->next;
        cJSON_Delete(cJSON_DetachItemViaPointer(array, item));
        item = next;
    }
}


/*
 * Google's legacy formatting: 3-space indent, "key" : value, arrays of
 * scalars on one line; or compact, on one line.  No empty line, no LF at
 * the end.
 */

static ngx_int_t
ngx_stream_herd_json_print(cJSON *root, ngx_uint_t format, ngx_log_t *log,
    ngx_str_t *json)
{
    ngx_stream_herd_json_out_t  out;

    out.start = ngx_alloc(NGX_STREAM_HERD_JSON_OUT_INIT, log);
    if (out.start == NULL) {
        return NGX_ERROR;
    }

    out.last = out.start;
    out.end = out.start + NGX_STREAM_HERD_JSON_OUT_INIT;
    out.log = log;
    out.compact = (format == NGX_STREAM_HERD_PLACES_COMPACT);
    out.failed = 0;

    ngx_stream_herd_json_print_value(&out, root, 0);

    if (out.failed) {
        ngx_free(out.start);
        return NGX_ERROR;
    }

    json->data = out.start;
    json->len = out.last - out.start;

    ngx_stream_herd_json_newlines(json);

    return NGX_OK;
}


static void
ngx_stream_herd_json_print_value(ngx_stream_herd_json_out_t *out,
    cJSON *item, ngx_uint_t depth)
{
    cJSON       *child;
    ngx_uint_t   scalars;

    switch (item->type & 0xff) {

    case cJSON_False:
        ngx_stream_herd_json_append(out, (u_char *) "false", 5);
        return;

    case cJSON_True:
        ngx_stream_herd_json_append(out, (u_char *) "true", 4);
        return;

    case cJSON_Number:
        ngx_stream_herd_json_print_number(out, item->valuedouble);
        return;

    case cJSON_String:
        ngx_stream_herd_json_print_string(out, item->valuestring);
        return;

    case cJSON_Array:

        if (item->child == NULL) {
            ngx_stream_herd_json_append(out, (u_char *) "[]", 2);
            return;
        }

        scalars = 1;

        for (child = item->child; child; child = child->next) {
            if (cJSON_IsArray(child) || cJSON_IsObject(child)) {
                scalars = 0;
                break;
            }
        }

        if (out->compact) {
            ngx_stream_herd_json_append(out, (u_char *) "[", 1);

        } else if (scalars) {
            ngx_stream_herd_json_append(out, (u_char *) "[ ", 2);

        } else {
            ngx_stream_herd_json_append(out, (u_char *) "[\n", 2);
        }

        for (child = item->child; child; child = child->next) {

            if (!out->compact && !scalars) {
                ngx_stream_herd_json_indent(out, depth + 1);
            }

            ngx_stream_herd_json_print_value(out, child, depth + 1);

            if (child->next) {
                ngx_stream_herd_json_append(out, (u_char *) ",\n",
                                              (out->compact || scalars)
                                              ? 1 : 2);
                if (scalars && !out->compact) {
                    ngx_stream_herd_json_append(out, (u_char *) " ", 1);
                }
            }
        }

        if (out->compact) {
            ngx_stream_herd_json_append(out, (u_char *) "]", 1);

        } else if (scalars) {
            ngx_stream_herd_json_append(out, (u_char *) " ]", 2);

        } else {
            ngx_stream_herd_json_append(out, (u_char *) "\n", 1);
            ngx_stream_herd_json_indent(out, depth);
            ngx_stream_herd_json_append(out, (u_char *) "]", 1);
        }

        return;

    case cJSON_Object:

        if (item->child == NULL) {
            ngx_stream_herd_json_append(out, (u_char *) "{}", 2);
            return;
        }

        ngx_stream_herd_json_append(out, (u_char *) "{\n",
                                      out->compact ? 1 : 2);

        for (child = item->child; child; child = child->next) {

            if (!out->compact) {
                ngx_stream_herd_json_indent(out, depth + 1);
            }

            ngx_stream_herd_json_print_string(out, child->string
                                                     ? child->string : "");

            if (out->compact) {
                ngx_stream_herd_json_append(out, (u_char *) ":", 1);

            } else {
                ngx_stream_herd_json_append(out, (u_char *) " : ", 3);
            }

            ngx_stream_herd_json_print_value(out, child, depth + 1);

            if (child->next) {
                ngx_stream_herd_json_append(out, (u_char *) ",\n",
                                              out->compact ? 1 : 2);

            } else if (!out->compact) {
                ngx_stream_herd_json_append(out, (u_char *) "\n", 1);
            }
        }

        if (!out->compact) {
            ngx_stream_herd_json_indent(out, depth);
        }

        ngx_stream_herd_json_append(out, (u_char *) "}", 1);

        return;

    default: /* cJSON_NULL; cJSON_Raw is never parsed */
        ngx_stream_herd_json_append(out, (u_char *) "null", 4);
        return;
    }
}


static void
ngx_stream_herd_json_print_string(ngx_stream_herd_json_out_t *out,
    const char *s)
{
    u_char        ch, *p, *run;
    u_char        esc[6];
    static u_char hex[] = "0123456789abcdef";

    ngx_stream_herd_json_append(out, (u_char *) "\"", 1);

    p = (u_char *) s;
    run = p;

    for ( ;; ) {
        ch = *p;

        if (ch != '\0' && ch != '"' && ch != '\\' && ch >= 0x20) {
            p++;
            continue;
        }

        ngx_stream_herd_json_append(out, run, p - run);

        if (ch == '\0') {
            break;
        }

        esc[0] = '\\';

        switch (ch) {

        case '"':
        case '\\':
            esc[1] = ch;
            break;

        case '\b':
            esc[1] = 'b';
            break;

        case '\f':
            esc[1] = 'f';
            break;

        case '\n':
            esc[1] = 'n';
            break;

        case '\r':
            esc[1] = 'r';
            break;

        case '\t':
            esc[1] = 't';
            break;

        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 0xf];
            ngx_stream_herd_json_append(out, esc, 6);
            p++;
            run = p;
            continue;
        }

        ngx_stream_herd_json_append(out, esc, 2);

        p++;
        run = p;
    }

    ngx_stream_herd_json_append(out, (u_char *) "\"", 1);
}


/* as cJSON prints numbers: integers plainly, else the shortest exact form */

static void
ngx_stream_herd_json_print_number(ngx_stream_herd_json_out_t *out,
    double d)
{
    int   n;
    char  buf[64];

    if (d != d || d - d != 0) {
        /* NaN or infinity: JSON has neither */
        ngx_stream_herd_json_append(out, (u_char *) "null", 4);
        return;
    }

    if (d > -1e15 && d < 1e15 && d == (double) (int64_t) d) {
        n = snprintf(buf, sizeof(buf), "%.0f", d);

    } else {
        n = snprintf(buf, sizeof(buf), "%.15g", d);

        if (strtod(buf, NULL) != d) {
            n = snprintf(buf, sizeof(buf), "%.17g", d);
        }
    }

    if (n <= 0 || n >= (int) sizeof(buf)) {
        out->failed = 1;
        return;
    }

    ngx_stream_herd_json_append(out, (u_char *) buf, n);
}


static void
ngx_stream_herd_json_indent(ngx_stream_herd_json_out_t *out,
    ngx_uint_t depth)
{
    static u_char  spaces[] = "                                        ";

    size_t  n;

    n = 3 * depth;

    while (n) {
        ngx_stream_herd_json_append(out, spaces,
                                      ngx_min(n, sizeof(spaces) - 1));
        n -= ngx_min(n, sizeof(spaces) - 1);
    }
}


static void
ngx_stream_herd_json_append(ngx_stream_herd_json_out_t *out,
    const u_char *p, size_t len)
{
    u_char  *buf;
    size_t   size, used;

    if (out->failed || len == 0) {
        return;
    }

    if (len > (size_t) (out->end - out->last)) {
        used = out->last - out->start;

        if (len > NGX_STREAM_HERD_JSON_OUT_MAX - used) {
            ngx_log_error(NGX_LOG_ERR, out->log, 0,
                          "herd places: the answer would print to more "
                          "than %uz bytes", NGX_STREAM_HERD_JSON_OUT_MAX);
            out->failed = 1;
            return;
        }

        size = (out->end - out->start) * 2;

        while (size < used + len) {
            size *= 2;
        }

        buf = ngx_alloc(size, out->log);
        if (buf == NULL) {
            out->failed = 1;
            return;
        }

        ngx_memcpy(buf, out->start, used);
        ngx_free(out->start);

        out->start = buf;
        out->last = buf + used;
        out->end = buf + size;
    }

    out->last = ngx_cpymem(out->last, p, len);
}


/* every run of LFs becomes one, no LF at the end (PROTOCOL.md 6) */

static void
ngx_stream_herd_json_newlines(ngx_str_t *json)
{
    u_char  *p, *q, *end;

    p = json->data;
    q = json->data;
    end = json->data + json->len;

    while (p < end) {
        if (*p == LF && q > json->data && q[-1] == LF) {
            p++;
            continue;
        }

        *q++ = *p++;
    }

    while (q > json->data && q[-1] == LF) {
        q--;
    }

    json->len = q - json->data;
}
