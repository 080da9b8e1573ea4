//! The run's picture: traffic share per candidate over time as stacked bands, with the
//! phases shaded, as a PNG (written by hand: RGB rows in stored zlib blocks, so no
//! image or font library is needed) and as an SVG with the phase names and a legend.

use super::market::{Kind, NAMES, Phase};

const W: usize = 1200;
const H: usize = 420;
const LEFT: usize = 10;
const RIGHT: usize = W - 10;
const STRIP: (usize, usize) = (10, 34);
const PLOT: (usize, usize) = (44, H - 10);

/// Candidate colours, in `NAMES` order.
const COLOURS: [[u8; 3]; 4] = [[76, 175, 80], [33, 150, 243], [255, 152, 0], [156, 39, 176]];

fn shade(kind: Kind) -> [u8; 3] {
    match kind {
        Kind::Steady => [230, 230, 230],
        Kind::Degraded => [239, 83, 80],
        Kind::Recovery => [129, 199, 132],
        Kind::Shift => [100, 181, 246],
    }
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Which phase second `t` falls in.
fn phase_at(starts: &[f64], t: f64) -> usize {
    starts.partition_point(|s| *s <= t).saturating_sub(1)
}

/// The picture as RGB rows.
fn raster(shares: &[[f64; 4]], phases: &[Phase], starts: &[f64], seconds: f64) -> Vec<[u8; 3]> {
    let mut px = vec![[255u8; 3]; W * H];
    let span = (RIGHT - LEFT) as f64;
    for x in LEFT..RIGHT {
        let t = (x - LEFT) as f64 / span * seconds;
        let k = phase_at(starts, t);
        let tint = if k.is_multiple_of(2) { 0.0 } else { 0.18 };
        for y in STRIP.0..STRIP.1 {
            px[y * W + x] = shade(phases[k].kind);
        }
        let s = shares.get(t as usize).copied().unwrap_or([0.0; 4]);
        let height = (PLOT.1 - PLOT.0) as f64;
        let mut acc = 0.0;
        let mut bounds = [0.0; 4];
        for c in 0..4 {
            acc += s[c];
            bounds[c] = acc;
        }
        for y in PLOT.0..PLOT.1 {
            let frac = (PLOT.1 - y) as f64 / height;
            let c = bounds.iter().position(|b| frac <= *b + 1e-9);
            let base = c.map_or([255, 255, 255], |c| COLOURS[c]);
            px[y * W + x] = base.map(|v| (f64::from(v) * (1.0 - tint)) as u8);
        }
        if k > 0 && ((t - starts[k]) / seconds * span) < 1.0 {
            for y in STRIP.0..PLOT.1 {
                px[y * W + x] = [0, 0, 0];
            }
        }
    }
    px
}

/// The PNG file.
pub fn png(shares: &[[f64; 4]], phases: &[Phase], starts: &[f64], seconds: f64) -> Vec<u8> {
    let px = raster(shares, phases, starts, seconds);
    let mut raw = Vec::with_capacity(H * (1 + W * 3));
    for row in px.chunks(W) {
        raw.push(0);
        for p in row {
            raw.extend_from_slice(p);
        }
    }
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(W as u32).to_be_bytes());
    ihdr.extend_from_slice(&(H as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, b) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &v in data {
        a = (a + u32::from(v)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The same picture as SVG, with phase names and a legend.
pub fn svg(shares: &[[f64; 4]], phases: &[Phase], starts: &[f64], seconds: f64) -> String {
    let (w, h, top, bottom) = (1200.0, 470.0, 60.0, 420.0);
    let x = |t: f64| 10.0 + t / seconds * (w - 20.0);
    let y = |f: f64| bottom - f * (bottom - top);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"10\">\n"
    );
    for (k, p) in phases.iter().enumerate() {
        let (x0, x1) = (x(starts[k]), x(starts[k] + p.seconds));
        s.push_str(&format!(
            "<rect x=\"{x0:.1}\" y=\"10\" width=\"{:.1}\" height=\"{}\" fill=\"{}\" opacity=\"0.5\"/>\n\
             <text x=\"{:.1}\" y=\"{}\" transform=\"rotate(-20 {:.1} {})\">{}</text>\n",
            x1 - x0,
            bottom - 10.0,
            hex(shade(p.kind)),
            x0 + 2.0,
            top - 6.0,
            x0 + 2.0,
            top - 6.0,
            p.name
        ));
    }
    for c in (0..4).rev() {
        let mut pts = String::new();
        for (sec, sh) in shares.iter().enumerate() {
            let cum: f64 = sh[..=c].iter().sum();
            pts.push_str(&format!("{:.1},{:.1} ", x(sec as f64 + 0.5), y(cum)));
        }
        pts.push_str(&format!(
            "{:.1},{bottom} {:.1},{bottom}",
            x(seconds),
            x(0.0)
        ));
        s.push_str(&format!(
            "<polygon points=\"{pts}\" fill=\"{}\" opacity=\"0.85\"/>\n",
            hex(COLOURS[c])
        ));
    }
    for (c, name) in NAMES.iter().enumerate() {
        let lx = 10.0 + c as f64 * 120.0;
        s.push_str(&format!(
            "<rect x=\"{lx}\" y=\"440\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"450\">{name}</text>\n",
            hex(COLOURS[c]),
            lx + 16.0
        ));
    }
    s.push_str("<text x=\"600\" y=\"450\">traffic share per candidate, 1 s bins; stacked bottom to top</text>\n</svg>\n");
    s
}
