// SPDX-License-Identifier: GPL-3.0-or-later
// Every shape is drawn as a coverage mask (anti-aliased, sub-pixel coordinates) and blended in
// its colour, so that shapes made of lines can be clipped to their disk like the filled ones.
#include "world/shape_drawing.h"

#include "common/error.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace psa {

namespace {

constexpr int kShift = 4; // sub-pixel bits of OpenCV's drawing coordinates
constexpr double kScale = 1 << kShift;
constexpr double kPi = 3.14159265358979323846;

// A point of the shape's own frame (unit = radius) placed on the canvas.
struct Frame {
    const ShapePlacement& p;
    cv::Point at(double x, double y) const
    {
        const double c = std::cos(p.rotation), s = std::sin(p.rotation);
        const double px = p.centre.x + p.radius * (c * x - s * y);
        const double py = p.centre.y + p.radius * (s * x + c * y);
        return {static_cast<int>(std::lround(px * kScale)), static_cast<int>(std::lround(py * kScale))};
    }
    int thickness(double fraction) const { return std::max(1, static_cast<int>(std::lround(p.radius * fraction))); }
};

void blend(cv::Mat& canvas, const cv::Mat1b& mask, const Rgb& colour)
{
    for (int y = 0; y < canvas.rows; ++y) {
        auto* row = canvas.ptr<cv::Vec3b>(y);
        const auto* m = mask.ptr<std::uint8_t>(y);
        for (int x = 0; x < canvas.cols; ++x) {
            if (!m[x])
                continue;
            const int a = m[x];
            for (int c = 0; c < 3; ++c)
                row[x][c] = static_cast<std::uint8_t>((row[x][c] * (255 - a) + colour[c] * a + 127) / 255);
        }
    }
}

std::vector<cv::Point> regular_polygon(const Frame& f, int n, double r, double phase)
{
    std::vector<cv::Point> pts;
    for (int i = 0; i < n; ++i) {
        const double a = phase + 2 * kPi * i / n;
        pts.push_back(f.at(r * std::cos(a), r * std::sin(a)));
    }
    return pts;
}

void fill(cv::Mat1b& m, const std::vector<cv::Point>& pts)
{
    cv::fillPoly(m, std::vector<std::vector<cv::Point>>{pts}, cv::Scalar(255), cv::LINE_AA, kShift);
}

void disk(cv::Mat1b& m, const Frame& f, double r)
{
    const auto c = f.at(0, 0);
    cv::circle(m, c, static_cast<int>(std::lround(f.p.radius * r * kScale)), cv::Scalar(255), cv::FILLED, cv::LINE_AA,
               kShift);
}

void polyline(cv::Mat1b& m, const std::vector<cv::Point>& pts, int thickness)
{
    cv::polylines(m, std::vector<std::vector<cv::Point>>{pts}, false, cv::Scalar(255), thickness, cv::LINE_AA, kShift);
}

// The coverage of one shape kind at radius 1 in its frame.
void shape_mask(cv::Mat1b& m, const std::string& kind, const Frame& f)
{
    bool clip = false;
    if (kind == "circle") {
        disk(m, f, 1.0);
    } else if (kind == "square") {
        fill(m, regular_polygon(f, 4, 1.0, kPi / 4));
    } else if (kind == "triangle") {
        fill(m, regular_polygon(f, 3, 1.05, -kPi / 2));
    } else if (kind == "diamond") {
        fill(m, {f.at(0, -1.0), f.at(0.62, 0), f.at(0, 1.0), f.at(-0.62, 0)});
    } else if (kind == "hexagon") {
        fill(m, regular_polygon(f, 6, 1.0, 0));
    } else if (kind == "pentagon") {
        fill(m, regular_polygon(f, 5, 1.0, -kPi / 2));
    } else if (kind == "spikes") {
        std::vector<cv::Point> pts;
        for (int i = 0; i < 16; ++i) {
            const double a = kPi * i / 8, r = (i % 2) ? 0.38 : 1.0;
            pts.push_back(f.at(r * std::cos(a), r * std::sin(a)));
        }
        fill(m, pts);
    } else if (kind == "zigzag") {
        for (double y : {-0.5, 0.0, 0.5}) {
            std::vector<cv::Point> pts;
            for (int i = 0; i <= 4; ++i)
                pts.push_back(f.at(-1.0 + 0.5 * i, y + ((i % 2) ? 0.22 : -0.22)));
            polyline(m, pts, f.thickness(0.2));
        }
        clip = true;
    } else if (kind == "cross_hatch") {
        for (double d = -1.35; d <= 1.36; d += 0.45) {
            cv::line(m, f.at(d - 1.2, -1.2), f.at(d + 1.2, 1.2), cv::Scalar(255), f.thickness(0.13), cv::LINE_AA, kShift);
            cv::line(m, f.at(d + 1.2, -1.2), f.at(d - 1.2, 1.2), cv::Scalar(255), f.thickness(0.13), cv::LINE_AA, kShift);
        }
        clip = true;
    } else if (kind == "shards") {
        for (int i = 0; i < 4; ++i) {
            const double a = kPi / 4 + kPi / 2 * i, c = std::cos(a), s = std::sin(a);
            // A sliver pointing outwards from the centre.
            fill(m, {f.at(0.15 * c - 0.25 * s, 0.15 * s + 0.25 * c), f.at(0.15 * c + 0.25 * s, 0.15 * s - 0.25 * c),
                     f.at(1.0 * c, 1.0 * s)});
        }
    } else if (kind == "ring") {
        const auto c = f.at(0, 0);
        cv::circle(m, c, static_cast<int>(std::lround(f.p.radius * 0.62 * kScale)), cv::Scalar(255), f.thickness(0.3),
                   cv::LINE_AA, kShift);
    } else if (kind == "blob") {
        cv::ellipse(m, f.at(0, 0),
                    cv::Size(static_cast<int>(std::lround(f.p.radius * 0.85 * kScale)),
                             static_cast<int>(std::lround(f.p.radius * 0.55 * kScale))),
                    f.p.rotation * 180 / kPi, 0, 360, cv::Scalar(255), cv::FILLED, cv::LINE_AA, kShift);
    } else if (kind == "stripes") {
        for (double y : {-0.55, 0.0, 0.55})
            cv::line(m, f.at(-1.2, y), f.at(1.2, y), cv::Scalar(255), f.thickness(0.28), cv::LINE_AA, kShift);
        clip = true;
    } else if (kind == "dots") {
        for (double y : {-0.45, 0.45})
            for (double x : {-0.45, 0.45}) {
                const auto c = f.at(x, y);
                cv::circle(m, c, static_cast<int>(std::lround(f.p.radius * 0.27 * kScale)), cv::Scalar(255), cv::FILLED,
                           cv::LINE_AA, kShift);
            }
    } else if (kind == "wave") {
        for (double y : {-0.35, 0.35}) {
            std::vector<cv::Point> pts;
            for (int i = 0; i <= 16; ++i) {
                const double x = -1.0 + i / 8.0;
                pts.push_back(f.at(x, y + 0.25 * std::sin(x * kPi * 1.5)));
            }
            polyline(m, pts, f.thickness(0.2));
        }
        clip = true;
    } else if (kind == "checker") {
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
                if ((i + j) % 2 == 0) {
                    const double x = -1.0 + 0.5 * i, y = -1.0 + 0.5 * j;
                    fill(m, {f.at(x, y), f.at(x + 0.5, y), f.at(x + 0.5, y + 0.5), f.at(x, y + 0.5)});
                }
        clip = true;
    } else {
        throw ConfigError("world: unknown shape kind \"" + kind + "\"");
    }
    if (clip) {
        cv::Mat1b limit = cv::Mat1b::zeros(m.size());
        disk(limit, f, 1.0);
        cv::Mat clipped;
        cv::min(static_cast<const cv::Mat&>(m), static_cast<const cv::Mat&>(limit), clipped);
        clipped.copyTo(m);
    }
}

Rgb shifted(const Rgb& c, int delta)
{
    Rgb out;
    for (int i = 0; i < 3; ++i)
        out[i] = static_cast<std::uint8_t>(std::clamp(int(c[i]) + delta, 0, 255));
    return out;
}

Rgb jittered(const Rgb& c, int amount, WorldRng& rng)
{
    Rgb out;
    for (int i = 0; i < 3; ++i)
        out[i] = static_cast<std::uint8_t>(std::clamp(int(c[i]) + int(std::lround(rng.uniform(-amount, amount))), 0, 255));
    return out;
}

Rgb lerp(const Rgb& a, const Rgb& b, double t)
{
    Rgb out;
    for (int i = 0; i < 3; ++i)
        out[i] = static_cast<std::uint8_t>(std::lround(a[i] + (b[i] - a[i]) * t));
    return out;
}

} // namespace

void draw_shape(cv::Mat& canvas, const ShapeSpec& spec, const ShapePlacement& where)
{
    cv::Mat1b mask = cv::Mat1b::zeros(canvas.size());
    if (spec.has_backing) {
        disk(mask, Frame{where}, 1.0);
        blend(canvas, mask, where.backing);
        mask.setTo(0);
        ShapePlacement inner = where;
        inner.radius *= 0.8; // the motif sits inside its backing disk
        shape_mask(mask, spec.shape, Frame{inner});
    } else {
        if (where.outline) {
            ShapePlacement rim = where;
            rim.radius += std::max(1.0, where.radius * 0.12);
            shape_mask(mask, spec.shape, Frame{rim});
            blend(canvas, mask, {24, 24, 24});
            mask.setTo(0);
        }
        shape_mask(mask, spec.shape, Frame{where});
    }
    blend(canvas, mask, where.colour);
}

void draw_background(cv::Mat& canvas, const BackgroundSpec& spec, int colour_jitter, WorldRng& rng)
{
    const Rgb from = jittered(spec.from, colour_jitter, rng), to = jittered(spec.to, colour_jitter, rng);
    const int w = canvas.cols, h = canvas.rows;
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0, far = std::hypot(cx, cy);
    for (int y = 0; y < h; ++y) {
        auto* row = canvas.ptr<cv::Vec3b>(y);
        for (int x = 0; x < w; ++x) {
            double t = 0;
            if (spec.kind == "vertical_gradient")
                t = h > 1 ? double(y) / (h - 1) : 0;
            else if (spec.kind == "horizontal_gradient")
                t = w > 1 ? double(x) / (w - 1) : 0;
            else if (spec.kind == "radial_gradient")
                t = std::hypot(x - cx, y - cy) / far;
            const Rgb c = lerp(from, to, t);
            row[x] = cv::Vec3b(c[0], c[1], c[2]);
        }
    }
    const Rgb mid = lerp(from, to, 0.5);
    const double phase = rng.uniform();
    cv::Mat1b mask = cv::Mat1b::zeros(canvas.size());
    const auto pt = [](double x, double y) {
        return cv::Point(static_cast<int>(std::lround(x * kScale)), static_cast<int>(std::lround(y * kScale)));
    };
    if (spec.pattern == "grid") {
        const double step = w / 8.0;
        for (double v = phase * step; v < w; v += step) {
            cv::line(mask, pt(v, 0), pt(v, h), cv::Scalar(160), 1, cv::LINE_AA, kShift);
            cv::line(mask, pt(0, v), pt(w, v), cv::Scalar(160), 1, cv::LINE_AA, kShift);
        }
        blend(canvas, mask, shifted(mid, -35));
    } else if (spec.pattern == "waves") {
        const double step = h / 6.0;
        for (double y0 = phase * step; y0 < h; y0 += step) {
            std::vector<cv::Point> pts;
            for (int i = 0; i <= 32; ++i) {
                const double x = w * i / 32.0;
                pts.push_back(pt(x, y0 + step * 0.2 * std::sin(x / w * 4 * kPi + phase * 2 * kPi)));
            }
            cv::polylines(mask, std::vector<std::vector<cv::Point>>{pts}, false, cv::Scalar(140), 1, cv::LINE_AA, kShift);
        }
        blend(canvas, mask, shifted(mid, 28));
    } else if (spec.pattern == "speckles") {
        const int n = w * h / 40;
        for (int i = 0; i < n; ++i)
            mask(rng.below(h), rng.below(w)) = 150;
        blend(canvas, mask, shifted(mid, rng.chance(0.5) ? -40 : 40));
    } else if (spec.pattern == "bands") {
        const int n = 6;
        for (int i = 0; i < n; ++i) {
            const double x = (i + rng.uniform(0.1, 0.9)) * w / n;
            cv::line(mask, pt(x, 0), pt(x, h), cv::Scalar(150), std::max(1, w / 32), cv::LINE_AA, kShift);
        }
        blend(canvas, mask, shifted(mid, -30));
    }
}

} // namespace psa
