"""The data-quality scorecards (数据质量评分卡): the operators' ranking, an agency's own."""
