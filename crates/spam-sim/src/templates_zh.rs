//! Chinese texts of the simulation: everyday chat between contacts,
//! legitimate first contacts (a new colleague, a courier, a clinic, school
//! or property-management office), the spam campaigns that carpet-bomb
//! Chinese phone users, and the value lists of the `_zh` slots.
//!
//! Every text here was written for the simulation; none is taken from the
//! classifier's training data (`crates/spam/data`) or any other corpus, so
//! the simulation measures the shipped model on texts it has never seen.
//! Templates hold `{slot}` placeholders that are replaced with a random
//! choice per message.

/// Names of people (given names and 小X / 老X / 阿X forms), for `{other}`
/// and for senders and recipients of Chinese texts.
pub const NAMES_ZH: &[&str] = &[
    "小王", "小李", "老张", "阿杰", "晓燕", "子涵", "思远", "佳怡", "浩然", "雨桐", "小敏", "老陈",
    "欣怡", "志强", "丽华", "建国", "婷婷", "小峰", "一鸣", "梓萱", "阿强", "小雪", "老刘", "文博",
    "静怡", "俊杰", "晓东", "秀英", "小鹏", "美玲",
];

/// Places where people meet, for `{place_zh}`.
pub const PLACES_ZH: &[&str] = &[
    "公司楼下",
    "地铁站",
    "商场门口",
    "小区门口",
    "火车站",
    "公园东门",
    "学校门口",
    "医院门口",
    "咖啡店",
    "健身房",
    "图书馆",
    "超市门口",
];

/// Dishes and drinks, for `{food_zh}`.
pub const FOODS_ZH: &[&str] = &[
    "火锅",
    "烧烤",
    "麻辣烫",
    "小龙虾",
    "日料",
    "饺子",
    "牛肉面",
    "烤鸭",
    "奶茶",
    "串串",
    "酸菜鱼",
    "披萨",
];

/// Everyday objects people leave behind, for `{thing_zh}`.
pub const THINGS_ZH: &[&str] = &[
    "雨伞",
    "充电器",
    "钥匙",
    "耳机",
    "外套",
    "身份证",
    "眼镜",
    "保温杯",
    "笔记本电脑",
    "围巾",
];

/// Courier companies, for `{courier_zh}`.
pub const COURIERS_ZH: &[&str] = &[
    "顺丰速运",
    "中通快递",
    "圆通速递",
    "韵达快递",
    "申通快递",
    "京东物流",
    "中国邮政EMS",
    "极兔速递",
    "德邦快递",
];

/// Luxury and sports brands that counterfeit adverts name, for `{brand_zh}`.
pub const BRANDS_ZH: &[&str] = &[
    "LV",
    "古驰",
    "香奈儿",
    "爱马仕",
    "迪奥",
    "普拉达",
    "劳力士",
    "耐克",
    "阿迪达斯",
    "巴黎世家",
    "卡地亚",
    "欧米茄",
];

/// Online shops and shopping platforms, for `{shop_zh}`.
pub const SHOPS_ZH: &[&str] = &[
    "淘宝",
    "京东",
    "拼多多",
    "抖音商城",
    "唯品会",
    "苏宁易购",
    "天猫",
    "盒马",
    "美团",
    "小红书",
];

/// Banks, for `{bank_zh}`.
pub const BANKS_ZH: &[&str] = &[
    "中国工商银行",
    "中国建设银行",
    "中国农业银行",
    "中国银行",
    "招商银行",
    "交通银行",
    "中国邮政储蓄银行",
    "浦发银行",
    "中信银行",
    "平安银行",
];

/// Weekdays and 今天 / 明天, for `{day_zh}`.
pub const WEEKDAYS_ZH: &[&str] = &[
    "周一", "周二", "周三", "周四", "周五", "周六", "周日", "明天", "今天",
];

/// Everyday messages between people who know each other.
pub const CHAT_ZH: &[&str] = &[
    "{first}，我大概晚{minutes}分钟到，你先点{food_zh}吧",
    "{day_zh}晚上去吃{food_zh}怎么样？我请客",
    "我的{thing_zh}好像落在你那儿了，帮我收一下，下次见面拿",
    "生日快乐{first}！🎂 今年也要开开心心的",
    "会议改到{time}了，还是上次那个会议室",
    "我到{place_zh}了，你在哪儿？没看到你",
    "{day_zh}下午有空吗？想找你帮忙搬点东西",
    "我还有{minutes}分钟到家，晚饭要不要我顺路带点？",
    "{other}说{day_zh}组局吃{food_zh}，你去不去？",
    "PPT我改好了，你{time}之前看一眼，没问题我就发给客户",
    "昨天那家{food_zh}真不错，下次再去",
    "别忘了{day_zh}{time}的牙医预约",
    "孩子终于睡了，累死我了😂",
    "上次聚餐一共{amount}，大家AA，我算好了发群里",
    "{first}，{other}的电话你还有吗？我换了手机，通讯录全没了",
    "刚下飞机，大概{small}点到家",
    "{day_zh}的deadline提前了，今晚可能要加会儿班",
    "谢谢你今天请吃饭，改天我回请😄",
    "面试怎么样？快跟我说说",
    "路上堵车，{time}的电话能不能往后推半小时？",
    "我在{place_zh}附近，要不要一起喝杯咖啡？",
    "妈说{day_zh}中午回家吃饭，让你带点水果",
    "票买好了，{day_zh}{time}那场，第{small}排中间",
    "你的快递我帮你拿了，放你家门口了",
    "OK，那就{day_zh}{time}在{place_zh}见",
];

/// Short replies to a first contact or to a friend.
pub const REPLIES_ZH: &[&str] = &[
    "好的，到时候见",
    "收到，谢谢！",
    "我在家，直接敲门就行",
    "放门卫室就可以，谢谢师傅",
    "没问题，{day_zh}{time}可以吗？",
    "OK👌",
    "好的，我晚点给你回电话",
    "欢迎欢迎！{day_zh}一起吃个午饭吧",
    "谢谢提醒，我会准时到",
    "能晚一点吗？{time2}左右",
    "麻烦放{house}号邻居家就行",
    "哈哈好的",
];

/// A person who just joined Tidings writing to people in their address book.
pub const HELLO_ZH: &[&str] = &[
    "{first}你好，我是{me}，我也开始用Tidings了，以后可以在这儿找我",
    "嗨{first}！终于装上了，我是{me}😄",
    "{first}，我是{me}，以后就在这个App上聊吧",
    "测试一下新App，我是{me}，收到了吗？",
    "{first}，我是{me}，换了个聊天工具，这是我的新账号",
    "你好{first}，我是{me}，看到你也在用这个，打个招呼👋",
];

/// A courier writing to the recipient of a parcel.
pub const DRIVER_ZH: &[&str] = &[
    "{first}您好，我是{courier_zh}的快递员{me}，您的包裹大概{minutes}分钟后送到，家里有人吗？",
    "你好，{courier_zh}的，你的快递到{place_zh}了，方便下来拿一下吗？",
    "您好，我是{courier_zh}快递员，今天{time}到{time2}之间给您送件，不在家的话可以放快递柜",
    "{first}你好，敲门没人应，快递给你放{house}号邻居家了，记得去拿",
    "您好，小区门禁进不去，麻烦帮我开一下门，我在楼下，{courier_zh}送件的",
    "你好，你的件放驿站了，取件码{code}，有问题打我电话。{me}",
    "{first}您好，我是{me}，您的生鲜包裹需要冷藏，请问今天{time}以后家里有人吗？",
];

/// A clinic, school or property-management office writing to a person.
pub const OFFICE_ZH: &[&str] = &[
    "{first}您好，这里是社区卫生服务中心，提醒您{day_zh}{time}的体检预约，请空腹前来",
    "{first}家长您好，我是班主任，{day_zh}下午召开家长会，{time}开始，请准时参加",
    "您好，这里是物业服务中心，{day_zh}{time}到{time2}小区停水检修，请提前储水",
    "{first}您好，您的检查报告已出，医生看过没有大问题，可以在医院公众号查看",
    "{first}您好，这里是口腔门诊，医生{day_zh}临时停诊，您的复诊改到{time2}可以吗？",
    "物业通知：{house}号楼电梯{day_zh}年检，{time}至{time2}暂停使用，给您带来不便敬请谅解",
    "{first}您好，幼儿园提醒您，{day_zh}孩子需要穿园服、带水杯，{time}前入园",
    "您好，这里是医院预约中心，您的复诊已预约在{day_zh}{time}，如需改约请回复本消息",
    "{first}您好，您{day_zh}的疫苗接种时间调整为{time}，请携带接种本",
];

/// A new colleague introducing themself.
pub const COLLEAGUE_ZH: &[&str] = &[
    "{first}你好，我是{me}，刚入职产品部，{other}说有问题可以找你请教，这周有空聊几分钟吗？",
    "你好！我是新同事{me}，{day_zh}开始坐你旁边，以后请多关照😊",
    "{first}，我是{me}，接手{other}之前的项目，方便约个时间交接一下吗？",
    "嗨{first}，我是数据组新来的{me}，能把我拉进项目群吗？谢谢！",
    "{first}你好，我是{me}，今天刚报到，请问报销流程找谁问比较好？",
    "你好{first}，我是{me}，下周我们一起出差，{day_zh}{time}的高铁，车站见？",
];

/// Counterfeit luxury goods and shoes.
pub const COUNTERFEIT_ZH: &[&str] = &[
    "【{brand_zh}专柜原单】一比一高仿包包、手表，做工细节和专柜无差，支持验货，加微信看实拍：{wechat}",
    "顶级复刻{brand_zh}新款到货，原厂皮料，五金刻字一致，专柜品质工厂价，货到付款，加V{wechat}，退订回T",
    "亲，{brand_zh}原单尾货清仓，外贸渠道专柜品质，{small}折起，朋友圈每天上新，加我：{wechat}",
    "【奢品汇】高仿{brand_zh}腕表、包包、鞋子一比一还原，广州工厂直供，支持专柜对比，进店有礼 {url} 回T退订",
    "{brand_zh}新款运动鞋公司级版本，原盒原标，鉴定可过，{amount}元两双包邮，加V：{wechat}",
    "你好，我们做{brand_zh}大牌A货，原单一比一，支持视频验货，招微商代理一件代发，了解加：{wechat}",
];

/// Online gambling: casinos, 百家乐, sports betting and 彩金 bonuses.
pub const GAMBLING_ZH: &[&str] = &[
    "【澳门官方娱乐城】百家乐、真人视讯、体育投注，首充{amount}送{pct}%彩金，提款秒到账，注册：{url}",
    "尊敬的会员，您的账户获赠{amount}元彩金，{hours}小时内有效，立即登录领取：{url} 回T退订",
    "百家乐稳赚技巧，专业老师带单，每天收益{amount}+，加微信进群：{wechat}",
    "【澳门博彩】新用户注册即送{small}8元体验金，首存再送{pct}%，24小时在线出款：{url}",
    "足球篮球体育投注，赔率全网最高，充{amount}返彩金，提现无上限，加V咨询{wechat}",
    "老板您好，线上娱乐城开业酬宾，真人荷官在线发牌，首充即送彩金，网址：{url} 退订回T",
];

/// Fake invoices: 代开发票 adverts.
pub const INVOICE_ZH: &[&str] = &[
    "【财税服务】本公司可代开各类正规发票，增值税专票、普票均可，可验证后付款，详询{wechat}",
    "您好！代开发票：建筑、运输、餐饮、办公用品、会议费等，点数优惠，真票可网上查验，联系：{wechat}",
    "各位老板：公司有部分进项额度，普票专票可对外代开，税点低至{small}个点，诚信合作，加V：{wechat} 回T退订",
    "专业代开发票，当天出票，快递包邮，全国各地均可开，保真可查，{wechat}",
    "您好，年底冲账需要发票吗？各类增值税发票代开，税点优惠，先开票后付款，加微信{wechat}",
    "老板您好，本公司长期代开发票，可开住宿费、咨询费、材料费，网上可查，电话微信同号{wechat}",
];

/// Part-time jobs and order-brushing (刷单) scams.
pub const PART_TIME_ZH: &[&str] = &[
    "招聘兼职：手机{shop_zh}刷单，一单一结，日结{amount}元以上，在家就能做，宝妈学生均可，加V：{wechat}",
    "【兼职】{shop_zh}店铺招人做点赞、关注、好评任务，每单佣金{fee}元，做完即返，感兴趣加{wechat}",
    "您好，我是{shop_zh}商家客服，现招网络兼职，每天{small}单，每单返佣{pct}元，本金加佣金秒返，详情点{url}",
    "宝妈学生党看过来！手机打字员、视频点赞员，时间自由，日结{amount}，无需押金，加微信{wechat}",
    "你好，看到你的简历，我们这边有个线上兼职，每天{small}小时就能赚{amount}，工资日结，有兴趣回复1",
    "【好评返现】在{shop_zh}购买指定商品并五星好评，返现{fee}元加本金，首单立返，加V{wechat}领任务，退订回T",
];

/// A parcel held until a fee is paid through a link.
pub const PARCEL_FEE_ZH: &[&str] = &[
    "【{courier_zh}】您的包裹{tracking}因地址不详滞留在转运中心，请在{hours}小时内点击{url}补全信息并支付{fee}元重新派送费",
    "【{courier_zh}理赔中心】您好，您的快递在运输途中丢失，我司将进行三倍赔付，请添加客服{wechat}办理，款项退至您的{bank_zh}账户",
    "您在{shop_zh}购买的商品因海关抽检需补缴关税{fee}元，逾期将退回，缴费链接：{url}",
    "【{courier_zh}】尊敬的用户，您的快件{tracking}派送失败，请于今日内点击{url}预约二次派送，需支付服务费{fee}元",
    "温馨提示：您的包裹已在驿站滞留{small}天，产生保管费{fee}元，请登录{url}缴纳后取件，超期将退回",
    "【{courier_zh}】您的快件{tracking}因包装破损需重新打包，请支付{fee}元包装费，否则将作退件处理：{url} 回T退订",
];

/// The follow-up a spammer sends to a person who answered.
pub const SPAM_FOLLOW_UP_ZH: &[&str] = &[
    "亲，看到你回复了😊 加一下微信吧，{wechat}，我发你详细资料",
    "您好，刚才的活动还剩{small}个名额，点击{url}填写信息就能领取哦",
    "已经帮您登记了，请在{hours}小时内支付{fee}元手续费完成验证：{url}",
    "老板在吗？给你留了位置，先充{amount}试试，不满意随时提现",
    "加我微信发你实拍图和教程，{wechat}，今天下单有优惠",
];
