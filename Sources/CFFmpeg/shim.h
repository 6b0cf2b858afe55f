// What Swift cannot import from FFmpeg's headers: function-like macros, compound-literal
// constants and the variadic logger. Each is a `static inline` wrapper with a `shim_` prefix.
#ifndef DEPIN_CFFMPEG_SHIM_H
#define DEPIN_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavutil/avutil.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <errno.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

static inline int shim_AVERROR_EOF(void) { return AVERROR_EOF; }
static inline int shim_AVERROR_EAGAIN(void) { return AVERROR(EAGAIN); }
static inline int shim_AVERROR_ENOMEM(void) { return AVERROR(ENOMEM); }
static inline int shim_AVERROR_INVALIDDATA(void) { return AVERROR_INVALIDDATA; }
static inline int shim_AVERROR(int e) { return AVERROR(e); }
static inline int64_t shim_AV_NOPTS_VALUE(void) { return AV_NOPTS_VALUE; }
static inline AVRational shim_AV_TIME_BASE_Q(void) { return AV_TIME_BASE_Q; }
static inline int shim_AV_TIME_BASE(void) { return AV_TIME_BASE; }

/// FFmpeg's message for an error code, copied into `buffer` (always NUL-terminated).
static inline void shim_av_strerror(int code, char *buffer, size_t size) {
    if (av_strerror(code, buffer, size) < 0) {
        snprintf(buffer, size, "FFmpeg error %d", code);
    }
}

/// Implemented in Swift (Media/FFmpeg/FFmpegLog.swift): receives each formatted log line at
/// warning level or worse (and the SRT listener's accepted stream id), so errors can quote
/// FFmpeg's reason and nothing is printed to stderr.
void depin_ffmpeg_log_line(int level, const char *line);

static inline void shim_log_callback(void *context, int level, const char *format, va_list arguments) {
    (void)context;
    // One verbose line is wanted too: the stream id of an SRT caller libsrt just accepted.
    if (level > AV_LOG_WARNING && strncmp(format, "accept streamid [", 17) != 0) return;
    char line[512];
    vsnprintf(line, sizeof line, format, arguments);
    depin_ffmpeg_log_line(level, line);
}

/// Names the calling thread (as top and /proc show it; Linux keeps 15 characters). Foundation's
/// Thread.name does not reach the kernel on Linux.
static inline void shim_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

/// Routes FFmpeg's log to `depin_ffmpeg_log_line`.
static inline void shim_capture_log(void) { av_log_set_callback(shim_log_callback); }

#endif
