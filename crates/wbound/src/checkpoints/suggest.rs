//! The suggested label of a sample: the class the checkpoints favour, by one of a few rules
//! (`wbound bench` measures how often each recovers the true label of a flipped sample).

use std::fmt;
use std::str::FromStr;

/// How the checkpoints' evidence becomes one suggested class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuggestRule {
    /// The argmax of the softmax averaged over the checkpoints.
    MeanSoftmax,
    /// The class predicted by the most checkpoints (ties: the one predicted last).
    Mode,
    /// The class predicted most often instead of the label (ties: the one predicted last), if at
    /// least a third of the checkpoints predicted it; else the label. The default: of the rules
    /// measured by `wbound bench` it names the true label of the most samples, flipped and clean
    /// together (README, "Checkpoints").
    #[default]
    ModeOther,
    /// On the last checkpoint: its prediction where that is not the label, else the class the
    /// label-referenced search crossed to.
    Search,
}

impl SuggestRule {
    /// Every rule, the default first.
    pub const ALL: [SuggestRule; 4] =
        [SuggestRule::ModeOther, SuggestRule::MeanSoftmax, SuggestRule::Mode, SuggestRule::Search];

    /// The rule's name.
    pub fn name(self) -> &'static str {
        match self {
            SuggestRule::MeanSoftmax => "mean-softmax",
            SuggestRule::Mode => "mode",
            SuggestRule::ModeOther => "mode-other",
            SuggestRule::Search => "search",
        }
    }
}

impl fmt::Display for SuggestRule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SuggestRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SuggestRule::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| format!("unknown rule '{s}'; the rules are mean-softmax, mode, mode-other, search"))
    }
}

/// The share of the checkpoints that must predict a class other than the label for
/// [`SuggestRule::ModeOther`] to suggest it.
const MIN_SHARE: f64 = 1.0 / 3.0;

/// What the rules need of one sample, gathered checkpoint by checkpoint.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Sum over checkpoints of the softmax.
    softmax_sum: Vec<f64>,
    /// Per class: how many checkpoints predicted it, and the last checkpoint that did.
    votes: Vec<(usize, usize)>,
    /// The last checkpoint's prediction and the class its search ended in.
    last: (usize, usize),
    seen: usize,
}

impl Evidence {
    /// No checkpoint seen yet, for `classes` classes.
    pub fn new(classes: usize) -> Evidence {
        Evidence { softmax_sum: vec![0.0; classes], votes: vec![(0, 0); classes], last: (0, 0), seen: 0 }
    }

    /// Adds one checkpoint: its logits, its prediction and the class its search ended in.
    pub fn add(&mut self, logits: &[f32], prediction: usize, final_class: usize) {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f64> = logits.iter().map(|&v| f64::from(v - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        self.softmax_sum.iter_mut().zip(&exp).for_each(|(s, e)| *s += e / sum);
        self.seen += 1;
        if let Some(v) = self.votes.get_mut(prediction) {
            *v = (v.0 + 1, self.seen);
        }
        self.last = (prediction, final_class);
    }

    /// The suggested class for a sample labelled `label`.
    pub fn suggest(&self, rule: SuggestRule, label: usize) -> usize {
        match rule {
            SuggestRule::MeanSoftmax => first_argmax(self.softmax_sum.iter().copied()),
            SuggestRule::Mode => first_argmax(self.votes.iter().copied()),
            SuggestRule::ModeOther => {
                let other = self.votes.iter().enumerate().map(|(c, &v)| if c == label { (0, 0) } else { v });
                let min = (self.seen as f64 * MIN_SHARE).ceil().max(1.0) as usize;
                match first_argmax(other) {
                    c if self.votes.get(c).is_some_and(|v| v.0 >= min) && c != label => c,
                    _ => label,
                }
            }
            SuggestRule::Search if self.last.0 != label => self.last.0,
            SuggestRule::Search => self.last.1,
        }
    }
}

/// The index of the first largest item (NaN never wins).
fn first_argmax<T: PartialOrd + Copy>(items: impl Iterator<Item = T>) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in items.enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_picks_its_class() {
        let mut e = Evidence::new(3);
        // Checkpoint 1 predicts 1 firmly, 2 and 3 predict 2 weakly; the last search crossed to 0.
        e.add(&[0.0, 10.0, 0.0], 1, 1);
        e.add(&[0.0, 1.0, 1.1], 2, 2);
        e.add(&[0.0, 1.0, 1.1], 2, 0);
        assert_eq!(e.suggest(SuggestRule::MeanSoftmax, 2), 1);
        assert_eq!(e.suggest(SuggestRule::Mode, 1), 2);
        assert_eq!(e.suggest(SuggestRule::ModeOther, 2), 1, "the one other class predicted");
        assert_eq!(e.suggest(SuggestRule::ModeOther, 1), 2);
        assert_eq!(e.suggest(SuggestRule::ModeOther, 0), 2, "two votes against one");
        assert_eq!(e.suggest(SuggestRule::Search, 1), 2, "the prediction, which is not the label");
        assert_eq!(e.suggest(SuggestRule::Search, 2), 0, "the class the search crossed to");
    }

    #[test]
    fn a_tied_vote_goes_to_the_later_prediction() {
        let mut e = Evidence::new(3);
        e.add(&[0.0, 1.0, 0.0], 1, 1);
        e.add(&[0.0, 0.0, 1.0], 2, 2);
        assert_eq!(e.suggest(SuggestRule::Mode, 0), 2);
        let mut always = Evidence::new(3);
        always.add(&[0.0, 1.0, 0.0], 1, 0);
        assert_eq!(always.suggest(SuggestRule::ModeOther, 1), 1, "never predicted otherwise: the label");
        // One checkpoint of five predicts 0 instead of the label 1: under a third, the label stays.
        let mut once = Evidence::new(3);
        once.add(&[1.0, 0.0, 0.0], 0, 0);
        (0..4).for_each(|_| once.add(&[0.0, 1.0, 0.0], 1, 0));
        assert_eq!(once.suggest(SuggestRule::ModeOther, 1), 1);
        once.add(&[1.0, 0.0, 0.0], 0, 0);
        assert_eq!(once.suggest(SuggestRule::ModeOther, 1), 0, "two of six: a third");
    }
}
